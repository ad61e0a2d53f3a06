// Package benchreport keeps the results of govirt's benchmark suite (bench/)
// and renders them as docs/PERFORMANCE.md. It is pure: the suite measures,
// this package stores medians and ratios and writes Markdown, so both are
// table-tested without a hypervisor.
package benchreport

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Better says which direction of a figure is good.
type Better string

// Directions of a figure.
const (
	Lower  Better = "lower"  // durations
	Higher Better = "higher" // rates
)

// Result is one measurement: samples of govirt's figure and, measured in
// the same run, of its baseline (raw virsh, or nothing when the baseline is
// the target alone).
type Result struct {
	ID      string    `json:"id"`     // stable key, for resuming: "control/sqlite/attach-1000"
	Group   string    `json:"group"`  // report section
	Name    string    `json:"name"`   // what is measured, in words
	Unit    string    `json:"unit"`   // "ms", "s", "disks/s"
	Better  Better    `json:"better"` // which way is good
	Samples []float64 `json:"samples,omitempty"`
	// BaselineName names what Baseline measured ("virsh create").
	BaselineName string    `json:"baseline_name,omitempty"`
	Baseline     []float64 `json:"baseline,omitempty"`
	// Target is the goal the issue sets, in Unit (0: none), and TargetRatio
	// a goal on govirt/baseline (0: none).
	Target      float64 `json:"target,omitempty"`
	TargetRatio float64 `json:"target_ratio,omitempty"`
	// Note says what else a reader must know (counts reduced, why).
	Note string `json:"note,omitempty"`
	// Err is why the measurement failed; a failed result is run again.
	Err  string    `json:"error,omitempty"`
	When time.Time `json:"when"`
}

// Median is the median of xs (NaN for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Value is the median of the samples.
func (r Result) Value() float64 { return Median(r.Samples) }

// Ratio is govirt's median over the baseline's, NaN without a baseline.
func (r Result) Ratio() float64 {
	b := Median(r.Baseline)
	if math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return r.Value() / b
}

// Met tells whether the result meets its targets; ok is false when it has
// none.
func (r Result) Met() (met, ok bool) {
	met = true
	if r.Target != 0 && !math.IsNaN(r.Value()) {
		ok = true
		if r.Better == Higher {
			met = met && r.Value() >= r.Target
		} else {
			met = met && r.Value() <= r.Target
		}
	}
	if ratio := r.Ratio(); r.TargetRatio != 0 && !math.IsNaN(ratio) {
		ok = true
		if r.Better == Higher {
			met = met && ratio >= r.TargetRatio
		} else {
			met = met && ratio <= r.TargetRatio
		}
	}
	return met && ok, ok
}

// Done tells whether a result needs no new run.
func (r Result) Done() bool { return r.Err == "" && len(r.Samples) > 0 }

// File is the suite's results: the JSON file that makes it resumable.
type File struct {
	path    string
	Machine Machine           `json:"machine"`
	Command string            `json:"command"`
	Results map[string]Result `json:"results"`
}

// Load reads the results at path; a missing file is an empty one.
func Load(path string) (*File, error) {
	f := &File{path: path, Results: map[string]Result{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("results %s: %w", path, err)
	}
	if f.Results == nil {
		f.Results = map[string]Result{}
	}
	return f, nil
}

// Put records r and saves the file at once, so an interrupted suite keeps
// every finished measurement.
func (f *File) Put(r Result) error {
	f.Results[r.ID] = r
	return f.Save()
}

// Save writes the file atomically.
func (f *File) Save() error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}
