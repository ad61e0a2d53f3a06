// Package wirefmt writes API responses in the XML of encoding/xml's
// MarshalIndent (two-space indent) and the JSON of encoding/json's Marshal,
// byte for byte, without their per-value work. encoding/xml asks every
// field of every value whether it implements one of four marshaler
// interfaces and builds a start element for it; encoding/json calls a
// MarshalJSON method (itself a Marshal) for each of oVirt's quoted
// booleans and integers. A list of 1,000 disk attachments spent most of
// its answer there. An Encoder instead reads a type's struct tags once into
// a plan and walks values by it.
//
// It covers the tag forms the API's wire types use (element and attribute
// names, omitempty, "-") over strings, booleans, integers, structs,
// pointers and slices. A type using anything else is ErrUnsupported, and
// the caller falls back to the standard encoders; tests hold every wire
// type to their output.
package wirefmt

import (
	"encoding/xml"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// ErrUnsupported marks a type whose tags or kinds the Encoder does not
// handle; the standard encoders must write it.
var ErrUnsupported = errors.New("wirefmt: type not supported")

// Encoder writes values by cached per-type plans. The zero value is not
// usable; New makes one. It is safe for concurrent use.
type Encoder struct {
	quoted map[reflect.Type]bool
	plans  sync.Map // reflect.Type -> *plan or error
}

// New returns an Encoder. quoted are the types whose MarshalJSON writes
// their value as a JSON string ("true", "42"), as oVirt's xs:boolean and
// xs:long do; any other type with its own JSON or XML marshaling is
// unsupported.
func New(quoted ...reflect.Type) *Encoder {
	e := &Encoder{quoted: map[reflect.Type]bool{}}
	for _, t := range quoted {
		e.quoted[t] = true
	}
	return e
}

// kind is what a plan node writes.
type kind int

const (
	kString kind = iota
	kBool
	kInt
	kUint
	kStruct
	kPtr
	kSlice
)

// plan is how values of one type are written.
type plan struct {
	kind   kind
	quoted bool    // JSON as a string (Encoder.quoted)
	elem   *plan   // kPtr, kSlice
	fields []field // kStruct, in declaration order
	// xmlName is the XMLName tag of a struct, "" when it has none.
	xmlName string
	// typeName names a top-level struct without an XMLName tag.
	typeName string
}

// field is one struct field as both encoders see it.
type field struct {
	index    int
	plan     *plan
	xmlName  string
	xmlAttr  bool
	xmlOmit  bool
	xmlSkip  bool
	jsonName string
	jsonOmit bool
	jsonSkip bool
}

var (
	xmlNameType      = reflect.TypeFor[xml.Name]()
	xmlMarshaler     = reflect.TypeFor[xml.Marshaler]()
	xmlAttrMarshaler = reflect.TypeFor[xml.MarshalerAttr]()
	textMarshaler    = reflect.TypeFor[interface{ MarshalText() ([]byte, error) }]()
	jsonMarshaler    = reflect.TypeFor[interface{ MarshalJSON() ([]byte, error) }]()
)

// valuePlan is v with its plan, for the Append methods.
func (e *Encoder) valuePlan(v any) (reflect.Value, *plan, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return rv, nil, fmt.Errorf("%w: nil", ErrUnsupported)
	}
	p, err := e.planFor(rv.Type())
	return rv, p, err
}

// planFor returns t's plan, building and caching it on first use.
func (e *Encoder) planFor(t reflect.Type) (*plan, error) {
	if v, ok := e.plans.Load(t); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(*plan), nil
	}
	p, err := e.build(t, map[reflect.Type]*plan{})
	if err != nil {
		e.plans.Store(t, err)
		return nil, err
	}
	e.plans.Store(t, p)
	return p, nil
}

// build makes t's plan; seen holds the plans under construction, so that
// a recursive type (a VM inside an Action inside ...) shares one.
func (e *Encoder) build(t reflect.Type, seen map[reflect.Type]*plan) (*plan, error) {
	if p, ok := seen[t]; ok {
		return p, nil
	}
	unsupported := func(why string) (*plan, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrUnsupported, t, why)
	}
	quoted := e.quoted[t]
	for _, m := range []reflect.Type{xmlMarshaler, xmlAttrMarshaler, textMarshaler, jsonMarshaler} {
		if t.Kind() == reflect.Pointer { // its element is checked
			break
		}
		if (t.Implements(m) || reflect.PointerTo(t).Implements(m)) && !(quoted && m == jsonMarshaler) {
			return unsupported("has its own " + m.String())
		}
	}
	p := &plan{quoted: quoted}
	seen[t] = p
	switch t.Kind() {
	case reflect.String:
		p.kind = kString
	case reflect.Bool:
		p.kind = kBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.kind = kInt
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		p.kind = kUint
	case reflect.Pointer:
		p.kind = kPtr
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return unsupported("byte slice")
		}
		p.kind = kSlice
	case reflect.Struct:
		p.kind = kStruct
		p.typeName = t.Name()
		if err := e.buildFields(t, p, seen); err != nil {
			return nil, err
		}
		return p, nil
	default:
		return unsupported("kind " + t.Kind().String())
	}
	if quoted && p.kind != kBool && p.kind != kInt && p.kind != kUint {
		return unsupported("quoted type of kind " + t.Kind().String())
	}
	if p.kind == kPtr || p.kind == kSlice {
		elem, err := e.build(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		if p.kind == kPtr && (elem.kind == kPtr || elem.kind == kSlice) {
			return unsupported("pointer to " + t.Elem().Kind().String())
		}
		if p.kind == kSlice && (elem.kind == kPtr || elem.kind == kSlice) {
			return unsupported("slice of " + t.Elem().Kind().String())
		}
		p.elem = elem
	}
	return p, nil
}

// buildFields reads the struct tags of t into p.
func (e *Encoder) buildFields(t reflect.Type, p *plan, seen map[reflect.Type]*plan) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		xtag, jtag := sf.Tag.Get("xml"), sf.Tag.Get("json")
		if sf.Type == xmlNameType {
			if sf.Name != "XMLName" || (jtag != "-" && sf.IsExported()) {
				return fmt.Errorf("%w: %s.%s: an xml.Name only as XMLName, json:\"-\"", ErrUnsupported, t, sf.Name)
			}
			name, _, _ := strings.Cut(xtag, ",")
			if strings.ContainsAny(name, " >") {
				return fmt.Errorf("%w: %s.XMLName tag %q", ErrUnsupported, t, xtag)
			}
			p.xmlName = name
			continue
		}
		if sf.Anonymous || !sf.IsExported() {
			if sf.Anonymous || xtag != "" || jtag != "" {
				return fmt.Errorf("%w: %s.%s: embedded or unexported", ErrUnsupported, t, sf.Name)
			}
			continue
		}
		f := field{index: i}
		var err error
		if f.xmlName, f.xmlAttr, f.xmlOmit, f.xmlSkip, err = parseXMLTag(sf); err != nil {
			return fmt.Errorf("%w: %s.%s: %v", ErrUnsupported, t, sf.Name, err)
		}
		if f.jsonName, f.jsonOmit, f.jsonSkip, err = parseJSONTag(sf); err != nil {
			return fmt.Errorf("%w: %s.%s: %v", ErrUnsupported, t, sf.Name, err)
		}
		if f.plan, err = e.build(sf.Type, seen); err != nil {
			return err
		}
		if f.xmlAttr && !scalar(f.plan) && !(f.plan.kind == kPtr && scalar(f.plan.elem)) {
			return fmt.Errorf("%w: %s.%s: attribute of a non-scalar", ErrUnsupported, t, sf.Name)
		}
		if !f.xmlSkip && !f.xmlAttr {
			if inner := structOf(f.plan); inner != nil && inner.xmlName != "" && inner.xmlName != f.xmlName {
				// encoding/xml refuses this as a conflict.
				return fmt.Errorf("%w: %s.%s: element %q holds a %q", ErrUnsupported, t, sf.Name, f.xmlName, inner.xmlName)
			}
		}
		p.fields = append(p.fields, f)
	}
	return nil
}

func parseXMLTag(sf reflect.StructField) (name string, attr, omit, skip bool, err error) {
	name, opts, skip, err := parseTag(sf, "xml", "attr", "omitempty")
	if skip || err != nil {
		return "", false, false, skip, err
	}
	if strings.ContainsAny(name, " >:") {
		return "", false, false, false, fmt.Errorf("xml name %q", name)
	}
	return name, opts["attr"], opts["omitempty"], false, nil
}

func parseJSONTag(sf reflect.StructField) (name string, omit, skip bool, err error) {
	name, opts, skip, err := parseTag(sf, "json", "omitempty")
	if skip || err != nil {
		return "", false, skip, err
	}
	if !plainJSONName(name) {
		return "", false, false, fmt.Errorf("json name %q", name)
	}
	return name, opts["omitempty"], false, nil
}

// parseTag reads the key tag of a field: its name (the field's when the
// tag has none), the options it sets, each one of allowed, and whether it
// is "-".
func parseTag(sf reflect.StructField, key string, allowed ...string) (name string, opts map[string]bool, skip bool, err error) {
	tag := sf.Tag.Get(key)
	if tag == "-" {
		return "", nil, true, nil
	}
	name, rest, _ := strings.Cut(tag, ",")
	opts = map[string]bool{}
	for o := range strings.SplitSeq(rest, ",") {
		if o == "" {
			continue
		}
		if !slices.Contains(allowed, o) {
			return "", nil, false, fmt.Errorf("%s option %q", key, o)
		}
		opts[o] = true
	}
	if name == "" {
		name = sf.Name
	}
	return name, opts, false, nil
}

// plainJSONName is a name that needs no escaping and that encoding/json
// accepts as a tag name.
func plainJSONName(s string) bool {
	for _, c := range s {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

func scalar(p *plan) bool { return p.kind <= kUint }

// structOf is the struct a field's element writes, through a pointer or a
// slice, or nil.
func structOf(p *plan) *plan {
	for p.kind == kPtr || p.kind == kSlice {
		p = p.elem
	}
	if p.kind == kStruct {
		return p
	}
	return nil
}
