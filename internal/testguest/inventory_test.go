package testguest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func scsiDisk(name, hctl string, h, c, t, l int, serial string, size uint64) Disk {
	return Disk{Name: name, HCTL: hctl, Host: h, Channel: c, Target: t, LUN: l,
		Vendor: "QEMU", Model: "QEMU_HARDDISK", Serial: serial, Size: size}
}

func virtioDisk(name, serial string, size uint64) Disk {
	return Disk{Name: name, Host: -1, Channel: -1, Target: -1, LUN: -1, Serial: serial, Size: size}
}

func TestParseInventories(t *testing.T) {
	block1 := `GOVIRT-INVENTORY BEGIN seq=1 count=2
GOVIRT-DISK seq=1 name=sda hctl=0:0:3:16684 vendor=QEMU model=QEMU_HARDDISK serial=s-1 size=67108864
GOVIRT-DISK seq=1 name=vda hctl=- vendor=- model=- serial=v1 size=1024
GOVIRT-INVENTORY END seq=1
`
	inv1 := Inventory{Seq: 1, Disks: []Disk{
		scsiDisk("sda", "0:0:3:16684", 0, 0, 3, 16684, "s-1", 67108864),
		virtioDisk("vda", "v1", 1024),
	}}
	tests := []struct {
		name string
		log  string
		want []Inventory
	}{
		{name: "empty log", log: "", want: nil},
		{name: "one block", log: block1, want: []Inventory{inv1}},
		{
			name: "junk lines, prefixes and CRLF",
			log: "SeaBIOS (version 1.16)\r\n[    4.1] virtio_blk virtio2: [vda] 2 512-byte logical blocks\r\n" +
				"GOVIRT-READY\r\n" +
				"GOVIRT-INVENTORY BEGIN seq=1 count=2\r\n" +
				"[    5.0] sd 0:0:3:16684: Attached scsi generic sg1 type 0\r\n" +
				"[    5.1] random: crng init done GOVIRT-DISK seq=1 name=sda hctl=0:0:3:16684 vendor=QEMU model=QEMU_HARDDISK serial=s-1 size=67108864\r\n" +
				"GOVIRT-DISK seq=1 name=vda hctl=- vendor=- model=- serial=v1 size=1024\r\n" +
				"\x00garbage GOVIRT-INVENTORY END seq=1\r\n",
			want: []Inventory{inv1},
		},
		{
			name: "boot id",
			log:  "GOVIRT-INVENTORY BEGIN seq=3 count=0 boot=5d0c1e2a-9f4b-4a51-8c3e-2b7f0a9d1e64\nGOVIRT-INVENTORY END seq=3\n",
			want: []Inventory{{Seq: 3, Boot: "5d0c1e2a-9f4b-4a51-8c3e-2b7f0a9d1e64", Disks: []Disk{}}},
		},
		{
			name: "empty inventory",
			log:  "GOVIRT-INVENTORY BEGIN seq=7 count=0\nGOVIRT-INVENTORY END seq=7\n",
			want: []Inventory{{Seq: 7, Disks: []Disk{}}},
		},
		{
			name: "incomplete trailing block is ignored",
			log:  block1 + "GOVIRT-INVENTORY BEGIN seq=2 count=1\nGOVIRT-DISK seq=2 name=sdb hctl=0:0:0:0 vendor=QEMU model=M serial=x size=1\n",
			want: []Inventory{inv1},
		},
		{
			name: "line cut by a kernel message drops the block",
			log: "GOVIRT-INVENTORY BEGIN seq=1 count=1\n" +
				"GOVIRT-DISK seq=1 name=sda hc[    3.3] sd 0:0:0:0: [sda] Write Protect is off\n" +
				"tl=0:0:0:0 vendor=QEMU model=M serial=x size=1\n" +
				"GOVIRT-INVENTORY END seq=1\n" + strings.ReplaceAll(block1, "seq=1", "seq=2"),
			want: []Inventory{{Seq: 2, Disks: inv1.Disks}},
		},
		{
			name: "count mismatch drops the block",
			log:  strings.Replace(block1, "count=2", "count=3", 1),
			want: nil,
		},
		{
			name: "disk line of another seq drops the block",
			log:  strings.Replace(block1, "GOVIRT-DISK seq=1 name=vda", "GOVIRT-DISK seq=9 name=vda", 1),
			want: nil,
		},
		{
			name: "END of another seq drops the block",
			log:  strings.Replace(block1, "END seq=1", "END seq=2", 1),
			want: nil,
		},
		{
			name: "restarted block replaces the unfinished one",
			log:  "GOVIRT-INVENTORY BEGIN seq=1 count=5\nGOVIRT-DISK seq=1 name=sdz hctl=- vendor=- model=- serial=- size=0\n" + block1,
			want: []Inventory{inv1},
		},
		{
			name: "bad hctl drops the block",
			log:  strings.Replace(block1, "hctl=0:0:3:16684", "hctl=0:0:3", 1),
			want: nil,
		},
		{
			name: "missing field drops the block",
			log:  strings.Replace(block1, " serial=v1", "", 1),
			want: nil,
		},
		{
			name: "disk lines outside a block are ignored",
			log:  "GOVIRT-DISK seq=1 name=sda hctl=- vendor=- model=- serial=- size=0\n" + block1 + "GOVIRT-INVENTORY END seq=1\n",
			want: []Inventory{inv1},
		},
		{
			name: "placeholders become empty strings",
			log: "GOVIRT-INVENTORY BEGIN seq=3 count=1\n" +
				"GOVIRT-DISK seq=3 name=sr0 hctl=2:0:0:0 vendor=QEMU model=QEMU_DVD-ROM serial=- size=0\n" +
				"GOVIRT-INVENTORY END seq=3\n",
			want: []Inventory{{Seq: 3, Disks: []Disk{{Name: "sr0", HCTL: "2:0:0:0", Host: 2, Vendor: "QEMU", Model: "QEMU_DVD-ROM"}}}},
		},
		{
			name: "several blocks in order",
			log:  block1 + strings.ReplaceAll(block1, "seq=1", "seq=2"),
			want: []Inventory{inv1, {Seq: 2, Disks: inv1.Disks}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseInventories(strings.NewReader(tt.log))
			if err != nil {
				t.Fatalf("ParseInventories: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("inventories (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInventoryLookups(t *testing.T) {
	inv := Inventory{Seq: 4, Disks: []Disk{
		scsiDisk("sda", "0:0:0:0", 0, 0, 0, 0, "a", 1),
		virtioDisk("vda", "b", 2),
	}}
	if d, ok := inv.BySerial("b"); !ok || d.Name != "vda" {
		t.Errorf("BySerial(b) = %v, %v", d, ok)
	}
	if _, ok := inv.BySerial("zz"); ok {
		t.Error("BySerial(zz) found a disk")
	}
	if d, ok := inv.ByName("sda"); !ok || d.Serial != "a" {
		t.Errorf("ByName(sda) = %v, %v", d, ok)
	}
	want := `inventory seq=4: [sda 0:0:0:0 QEMU/QEMU_HARDDISK serial="a" 1] [vda - / serial="b" 2]`
	if got := inv.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
