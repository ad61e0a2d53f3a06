package testguest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLdd(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []string
		wantErr string
	}{
		{
			name: "libraries and loader",
			out: "\tlinux-vdso.so.1 (0x00007ffd)\n" +
				"\tlibsgutils2-1.46.so.2 => /lib/x86_64-linux-gnu/libsgutils2-1.46.so.2 (0x00007efc)\n" +
				"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007efc)\n" +
				"\t/lib64/ld-linux-x86-64.so.2 (0x00007efc)\n",
			want: []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libsgutils2-1.46.so.2",
				"/lib64/ld-linux-x86-64.so.2"},
		},
		{
			name:    "missing library",
			out:     "\tlibudev.so.1 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n",
			wantErr: "libudev.so.1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLdd("/usr/sbin/qemu-ga", []byte(tt.out))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("libs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDebFieldsAndPinnedKernel(t *testing.T) {
	rec := "Package: linux-image-cloud-amd64\nSource: linux-signed-amd64 (6.1.192+2)\nVersion: 6.1.192-2\n" +
		"Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)\nDescription: Linux for x86-64 cloud\n some text: here\n"
	f := debFields(rec)
	if f["Version"] != "6.1.192-2" || f["Package"] != "linux-image-cloud-amd64" {
		t.Errorf("fields = %v", f)
	}
	m := pinnedDep.FindStringSubmatch(f["Depends"])
	if m == nil || m[1] != "linux-image-6.1.0-56-cloud-amd64" || m[2] != "6.1.192-2" {
		t.Errorf("pinned dependency = %q", m)
	}
	if _, ok := f[" some text"]; ok {
		t.Error("continuation line parsed as a field")
	}
}
