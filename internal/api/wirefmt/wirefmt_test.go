package wirefmt_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/api/wirefmt"
)

func newEncoder() *wirefmt.Encoder {
	return wirefmt.New(reflect.TypeFor[ovirt.Bool](), reflect.TypeFor[ovirt.Int]())
}

// wireTypes are the API's top-level bodies; TestWireTypesListed keeps the
// list whole.
var wireTypes = []any{
	ovirt.User{}, ovirt.Users{}, ovirt.Domain{}, ovirt.Role{}, ovirt.Roles{}, ovirt.Permit{}, ovirt.Permits{},
	ovirt.Permission{}, ovirt.Permissions{}, ovirt.Cdrom{}, ovirt.Cdroms{}, ovirt.Fault{}, ovirt.Action{},
	ovirt.Disk{}, ovirt.Disks{}, ovirt.DiskAttachment{}, ovirt.DiskAttachments{}, ovirt.DataCenter{},
	ovirt.DataCenters{}, ovirt.Cluster{}, ovirt.Clusters{}, ovirt.Host{}, ovirt.Hosts{}, ovirt.StorageDomain{},
	ovirt.StorageDomains{}, ovirt.Event{}, ovirt.Events{}, ovirt.OperatingSystem{}, ovirt.OperatingSystems{},
	ovirt.API{}, ovirt.ClusterLevel{}, ovirt.ClusterLevels{}, ovirt.SCSIPolicy{}, ovirt.SCSIPolicies{},
	ovirt.VM{}, ovirt.VMs{},
}

// TestWireTypesListed checks that every struct type of package ovirt is
// reachable from wireTypes, so the equivalence test covers it.
func TestWireTypesListed(t *testing.T) {
	reached := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.PkgPath() != reflect.TypeFor[ovirt.Ref]().PkgPath() || reached[ty.Name()] {
			return
		}
		reached[ty.Name()] = true
		if ty.Kind() == reflect.Struct {
			for i := range ty.NumField() {
				walk(ty.Field(i).Type)
			}
		}
	}
	for _, v := range wireTypes {
		walk(reflect.TypeOf(v))
	}
	fset := token.NewFileSet()
	files, err := filepath.Glob("../ovirt/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("ovirt sources: %v %v", files, err)
	}
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				if _, isStruct := ts.Type.(*ast.StructType); isStruct && ts.Name.IsExported() && !reached[ts.Name.Name] {
					t.Errorf("ovirt.%s is not reachable from wireTypes: add it", ts.Name.Name)
				}
			}
		}
	}
}

// TestAgreesWithStandardEncoders fills every wire type at random, again
// and again, and compares the Encoder's bytes with encoding/xml's and
// encoding/json's.
func TestAgreesWithStandardEncoders(t *testing.T) {
	e := newEncoder()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, proto := range wireTypes {
		ty := reflect.TypeOf(proto)
		t.Run(ty.Name(), func(t *testing.T) {
			for i := range 300 {
				v := reflect.New(ty)
				fill(rng, v.Elem(), 0)
				// The value and a pointer to it, as handlers pass either.
				for _, val := range []any{v.Elem().Interface(), v.Interface()} {
					same(t, e, val, i)
				}
			}
		})
	}
}

func same(t *testing.T, e *wirefmt.Encoder, v any, i int) {
	t.Helper()
	wantX, errX := xml.MarshalIndent(v, "", "  ")
	gotX, err := e.AppendXML(nil, v)
	if errX != nil {
		t.Fatalf("encoding/xml failed on a wire type (%v): fix the type", errX)
	}
	if err != nil || !bytes.Equal(gotX, wantX) {
		t.Fatalf("round %d %T XML (err %v):\n got %s\nwant %s", i, v, err, gotX, wantX)
	}
	wantJ, errJ := json.Marshal(v)
	gotJ, err := e.AppendJSON(nil, v)
	if errJ != nil {
		t.Fatalf("encoding/json failed on a wire type: %v", errJ)
	}
	if err != nil || !bytes.Equal(gotJ, wantJ) {
		t.Fatalf("round %d %T JSON (err %v):\n got %s\nwant %s", i, v, err, gotJ, wantJ)
	}
}

// awkward are strings that need escaping one way or another.
var awkward = []string{
	"", "plain", "a b", `<tag attr="x">&amp;</tag>`, "it's", "tab\there", "line\nbreak\r\n", "\x00\x01\x1f\x7f",
	"\b\f", "é ü 漢字 😀", "\u2028\u2029", "\xff\xfe bad utf8 \xc3", "\ufffd", "]]>", "\\back\\slash\"quote",
	"/vms/5e1b3a5e-0000-4000-8000-000000000001/diskattachments",
}

// fill sets v at random: pointers and slices nil, empty or set, strings
// from awkward, numbers of every sign. XMLName stays zero, as handlers
// leave it.
func fill(rng *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(awkward[rng.IntN(len(awkward))])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt([]int64{0, 1, -1, 42, 1 << 40, -1 << 63}[rng.IntN(6)])
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		v.SetUint([]uint64{0, 1, 1 << 63}[rng.IntN(3)])
	case reflect.Pointer:
		if depth > 4 || rng.IntN(3) == 0 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(rng, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		switch n := rng.IntN(4); {
		case depth > 4 || n == 0:
		case n == 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			s := reflect.MakeSlice(v.Type(), n-1, n-1)
			for i := range s.Len() {
				fill(rng, s.Index(i), depth+1)
			}
			v.Set(s)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[xml.Name]() {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(rng, v.Field(i), depth+1)
			}
		}
	}
}

// FuzzStrings holds the escaping of any string to the standard encoders.
func FuzzStrings(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, s)
	}
	e := newEncoder()
	f.Fuzz(func(t *testing.T, name, href string) {
		v := ovirt.DiskAttachment{Href: href, ID: name, Interface: &name, VM: &ovirt.Ref{ID: href, Name: &name},
			Disk: &ovirt.Disk{Name: &href, Links: []ovirt.Link{{Href: href, Rel: name}}}}
		same(t, e, v, 0)
	})
}

func TestUnsupportedTypesAreRefused(t *testing.T) {
	e := newEncoder()
	type withMap struct {
		M map[string]string `xml:"m"`
	}
	type chardata struct {
		Text string `xml:",chardata"`
	}
	type marshals struct {
		B ovirt.Bool `xml:"b"` // fine
		T xml.Name   `xml:"t"`
	}
	type conflict struct {
		//lint:ignore SA5008 the conflict encoding/xml refuses is the point
		D ovirt.Disk `xml:"volume"`
	}
	for _, v := range []any{withMap{}, chardata{}, marshals{}, conflict{}, []ovirt.Disk{}, "text"} {
		if _, err := e.AppendXML(nil, v); !errors.Is(err, wirefmt.ErrUnsupported) {
			t.Errorf("%T: XML error %v, want ErrUnsupported", v, err)
		}
	}
	if _, err := wirefmt.New().AppendJSON(nil, ovirt.Disk{}); !errors.Is(err, wirefmt.ErrUnsupported) {
		t.Errorf("ovirt.Bool not declared quoted: JSON error %v, want ErrUnsupported", err)
	}
	var nilVM *ovirt.VM
	if b, err := e.AppendXML(nil, nilVM); err != nil || len(b) != 0 {
		t.Errorf("nil *VM: %q %v, want nothing", b, err)
	}
}

func BenchmarkDiskAttachments1000(b *testing.B) {
	list := ovirt.DiskAttachments{}
	for i := range 1000 {
		id := "5e1b3a5e-0000-4000-8000-" + string(rune('a'+i%26)) + "00000000001"
		list.DiskAttachments = append(list.DiskAttachments, ovirt.DiskAttachment{
			ID: id, Href: "/ovirt-engine/api/vms/x/diskattachments/" + id, Active: ovirt.B(true), Bootable: ovirt.B(false),
			Interface: ovirt.Str("virtio_scsi"), PassDiscard: ovirt.B(false), ReadOnly: ovirt.B(false), UsesSCSIReservation: ovirt.B(false),
			Disk: &ovirt.Disk{ID: id, Href: "/ovirt-engine/api/disks/" + id}, VM: &ovirt.Ref{ID: "x", Href: "/ovirt-engine/api/vms/x"},
			Address: ovirt.Str("{bus=0, controller=0, target=0, unit=1}"), LogicalName: ovirt.Str("/dev/sdb")})
	}
	e := newEncoder()
	for _, c := range []struct {
		name string
		f    func() ([]byte, error)
	}{
		{"xml/wirefmt", func() ([]byte, error) { return e.AppendXML(nil, list) }},
		{"xml/encoding", func() ([]byte, error) { return xml.MarshalIndent(list, "", "  ") }},
		{"json/wirefmt", func() ([]byte, error) { return e.AppendJSON(nil, list) }},
		{"json/encoding", func() ([]byte, error) { return json.Marshal(list) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
