package wirefmt

import (
	"reflect"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends v as json.Marshal(v) writes it.
func (e *Encoder) AppendJSON(dst []byte, v any) ([]byte, error) {
	rv, p, err := e.valuePlan(v)
	if err != nil {
		return dst, err
	}
	return appendJSONValue(dst, p, rv), nil
}

func appendJSONValue(b []byte, p *plan, v reflect.Value) []byte {
	switch p.kind {
	case kString:
		return appendJSONString(b, v.String())
	case kBool:
		if p.quoted {
			return append(append(append(b, '"'), strconv.FormatBool(v.Bool())...), '"')
		}
		return strconv.AppendBool(b, v.Bool())
	case kInt:
		if p.quoted {
			return append(strconv.AppendInt(append(b, '"'), v.Int(), 10), '"')
		}
		return strconv.AppendInt(b, v.Int(), 10)
	case kUint:
		if p.quoted {
			return append(strconv.AppendUint(append(b, '"'), v.Uint(), 10), '"')
		}
		return strconv.AppendUint(b, v.Uint(), 10)
	case kPtr:
		if v.IsNil() {
			return append(b, "null"...)
		}
		return appendJSONValue(b, p.elem, v.Elem())
	case kSlice:
		if v.IsNil() {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONValue(b, p.elem, v.Index(i))
		}
		return append(b, ']')
	}
	b = append(b, '{')
	first := true
	for _, f := range p.fields {
		if f.jsonSkip {
			continue
		}
		fv := v.Field(f.index)
		if f.jsonOmit && empty(f.plan, fv) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, f.jsonName...)
		b = append(b, `":`...)
		b = appendJSONValue(b, f.plan, fv)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does with its default HTML
// escaping: <, > and & as \u003c, \u003e and \u0026, U+2028 and U+2029
// escaped, invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
