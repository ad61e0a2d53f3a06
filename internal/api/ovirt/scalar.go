package ovirt

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Bool is an xs:boolean: XML as true/false, JSON as "true"/"false" (as
// oVirt writes it), read from either a JSON string or a JSON boolean.
type Bool bool

// MarshalJSON writes oVirt's quoted form.
func (b Bool) MarshalJSON() ([]byte, error) { return json.Marshal(strconv.FormatBool(bool(b))) }

// UnmarshalJSON accepts true, "true", false and "false".
func (b *Bool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(strings.TrimSpace(string(data)), `"`)
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not a boolean", s)
	}
	*b = Bool(v)
	return nil
}

// Int is an xs:long: JSON as a quoted number, read from a string or number.
type Int int64

// MarshalJSON writes oVirt's quoted form.
func (i Int) MarshalJSON() ([]byte, error) { return json.Marshal(strconv.FormatInt(int64(i), 10)) }

// UnmarshalJSON accepts 5 and "5".
func (i *Int) UnmarshalJSON(data []byte) error {
	s := strings.Trim(strings.TrimSpace(string(data)), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*i = Int(v)
	return nil
}

// Str returns a pointer to s, for building responses.
func Str(s string) *string { return &s }

// B returns a pointer to a Bool.
func B(b bool) *Bool { v := Bool(b); return &v }

// I returns a pointer to an Int.
func I(i int64) *Int { v := Int(i); return &v }
