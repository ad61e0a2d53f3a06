package domxml

import (
	"encoding/xml"
	"reflect"

	"github.com/google/go-cmp/cmp"
)

// ignoreXMLNames drops the XMLName fields decoding fills in and building
// leaves empty; they carry nothing libvirt reads.
var ignoreXMLNames = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().Type() == reflect.TypeOf(xml.Name{})
}, cmp.Ignore())
