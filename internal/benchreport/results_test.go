package benchreport

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
}

func TestMet(t *testing.T) {
	for _, c := range []struct {
		name     string
		r        Result
		met, has bool
	}{
		{"no target", Result{Samples: []float64{1}}, false, false},
		{"rate above", Result{Better: Higher, Samples: []float64{600}, Target: 500}, true, true},
		{"rate below", Result{Better: Higher, Samples: []float64{80}, Target: 500}, false, true},
		{"time under", Result{Better: Lower, Samples: []float64{6}, Target: 50}, true, true},
		{"ratio over", Result{Better: Lower, Samples: []float64{12}, Baseline: []float64{10}, TargetRatio: 1.1}, false, true},
		{"ratio under", Result{Better: Lower, Samples: []float64{10.5}, Baseline: []float64{10}, TargetRatio: 1.1}, true, true},
		{"both, one missed", Result{Better: Lower, Samples: []float64{10.5}, Baseline: []float64{10}, TargetRatio: 1.1, Target: 5}, false, true},
	} {
		met, has := c.r.Met()
		if met != c.met || has != c.has {
			t.Errorf("%s: Met() = %v, %v; want %v, %v", c.name, met, has, c.met, c.has)
		}
	}
}

func TestFileRoundTripAndResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r", "results.json")
	f, err := Load(path)
	if err != nil || len(f.Results) != 0 {
		t.Fatalf("Load(missing) = %+v, %v", f, err)
	}
	f.Command = "make bench"
	if err := f.Put(Result{ID: "a", Samples: []float64{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(Result{ID: "b", Err: "boom"}); err != nil {
		t.Fatal(err)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if g.Command != "make bench" || !g.Results["a"].Done() || g.Results["b"].Done() {
		t.Errorf("reloaded %+v: want a done and b to run again", g)
	}
}

func TestRender(t *testing.T) {
	f := &File{Command: "make bench", Machine: Machine{CPU: "AMD EPYC", CPUs: 2, VirtType: "qemu"}, Results: map[string]Result{
		"g/1": {ID: "g/1", Group: "Hot-plug", Name: "hot-plug, sequential", Unit: "ms", Better: Lower,
			Samples: []float64{300, 320, 310}, BaselineName: "virsh attach-device", Baseline: []float64{290, 300, 310}, TargetRatio: 1.1},
		"g/2": {ID: "g/2", Group: "Hot-plug", Name: "broken", Err: "guest never saw\nthe disk"},
		"c/1": {ID: "c/1", Group: "Control plane", Name: "attach 1,000", Unit: "disks/s", Better: Higher, Samples: []float64{80}, Target: 500, Note: "one command each"},
	}}
	var b bytes.Buffer
	err := Render(&b, f, []Section{{Group: "Control plane"}, {Group: "Hot-plug", Intro: "API call to guest sees it."}}, "## Analysis\n")
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"make bench", "**TCG**",
		"| hot-plug, sequential | 310 ms | virsh attach-device: 300 ms | 1.03x | <= 1.10x | 3 + 3 | yes |",
		"| attach 1,000 | 80.0 disks/s | — | — | >= 500 disks/s | 1 | no |",
		"- attach 1,000: one command each",
		"- broken (`g/2`): guest never saw the disk",
		"## Analysis",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "## Control plane") > strings.Index(out, "## Hot-plug") {
		t.Error("sections are not in the order given")
	}
}
