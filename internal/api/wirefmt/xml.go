package wirefmt

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"reflect"
	"strconv"
)

// AppendXML appends v as xml.MarshalIndent(v, "", "  ") writes it. v is
// a struct or a pointer to one; a nil pointer writes nothing.
func (e *Encoder) AppendXML(dst []byte, v any) ([]byte, error) {
	rv, p, err := e.valuePlan(v)
	if err != nil {
		return dst, err
	}
	if p.kind == kPtr {
		if rv.IsNil() {
			return dst, nil
		}
		p, rv = p.elem, rv.Elem()
	}
	if p.kind != kStruct {
		return dst, fmt.Errorf("%w: top-level %s", ErrUnsupported, rv.Type())
	}
	name := p.xmlName
	if name == "" {
		name = p.typeName
	}
	w := xmlWriter{b: dst}
	w.element(name, p, rv)
	return w.b, nil
}

// xmlWriter keeps MarshalIndent's layout state (its printer's
// writeIndent): every start tag on a line of its own, an end tag on the
// start tag's line when nothing but text came between.
type xmlWriter struct {
	b          []byte
	depth      int
	indentedIn bool
	putNewline bool
}

func (w *xmlWriter) indent(delta int) {
	if delta < 0 {
		w.depth--
		if w.indentedIn {
			w.indentedIn = false
			return
		}
	}
	if w.putNewline {
		w.b = append(w.b, '\n')
	} else {
		w.putNewline = true
	}
	for range w.depth {
		w.b = append(w.b, "  "...)
	}
	if delta > 0 {
		w.depth++
		w.indentedIn = true
	}
}

// element writes v, of plan p, as one or more elements called name: none
// for a nil pointer, one per item of a slice.
func (w *xmlWriter) element(name string, p *plan, v reflect.Value) {
	switch p.kind {
	case kPtr:
		if !v.IsNil() {
			w.element(name, p.elem, v.Elem())
		}
	case kSlice:
		for i := range v.Len() {
			w.element(name, p.elem, v.Index(i))
		}
	case kStruct:
		w.indent(1)
		w.b = append(w.b, '<')
		w.b = append(w.b, name...)
		for _, f := range p.fields {
			if f.xmlAttr {
				w.attr(f, v.Field(f.index))
			}
		}
		w.b = append(w.b, '>')
		for _, f := range p.fields {
			if f.xmlSkip || f.xmlAttr {
				continue
			}
			fv := v.Field(f.index)
			if f.xmlOmit && empty(f.plan, fv) {
				continue
			}
			w.element(f.xmlName, f.plan, fv)
		}
		w.end(name)
	default:
		w.indent(1)
		w.b = append(w.b, '<')
		w.b = append(w.b, name...)
		w.b = append(w.b, '>')
		w.text(p, v)
		w.end(name)
	}
}

func (w *xmlWriter) end(name string) {
	w.indent(-1)
	w.b = append(w.b, "</"...)
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

func (w *xmlWriter) attr(f field, v reflect.Value) {
	p := f.plan
	if f.xmlOmit && empty(p, v) { // a pointer to a zero value is not empty
		return
	}
	if p.kind == kPtr {
		if v.IsNil() {
			return
		}
		p, v = p.elem, v.Elem()
	}
	w.b = append(w.b, ' ')
	w.b = append(w.b, f.xmlName...)
	w.b = append(w.b, `="`...)
	w.text(p, v)
	w.b = append(w.b, '"')
}

// text writes a scalar as character data or an attribute value.
func (w *xmlWriter) text(p *plan, v reflect.Value) {
	switch p.kind {
	case kString:
		w.b = appendXMLEscaped(w.b, v.String())
	case kBool:
		w.b = strconv.AppendBool(w.b, v.Bool())
	case kInt:
		w.b = strconv.AppendInt(w.b, v.Int(), 10)
	case kUint:
		w.b = strconv.AppendUint(w.b, v.Uint(), 10)
	}
}

// appendXMLEscaped escapes s as xml.EscapeText does, which is how
// encoding/xml writes text and attribute values; the common string that
// needs nothing escaped is copied as it is.
func appendXMLEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\'' || c == '&' || c == '<' || c == '>' {
			var buf bytes.Buffer
			_ = xml.EscapeText(&buf, []byte(s)) // a bytes.Buffer does not fail
			return append(dst, buf.Bytes()...)
		}
	}
	return append(dst, s...)
}

// empty is encoding/xml's and encoding/json's notion of an empty value
// for omitempty (a struct is never empty).
func empty(p *plan, v reflect.Value) bool {
	switch p.kind {
	case kString:
		return v.Len() == 0
	case kBool:
		return !v.Bool()
	case kInt:
		return v.Int() == 0
	case kUint:
		return v.Uint() == 0
	case kPtr:
		return v.IsNil()
	case kSlice:
		return v.Len() == 0
	}
	return false
}
