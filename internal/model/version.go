package model

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a cluster or data center compatibility level, such as 4.8.
type Version struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
}

// Compatibility levels govirt knows, oldest first.
var (
	Version32 = Version{3, 2}
	Version33 = Version{3, 3}
	Version48 = Version{4, 8}
	// Versions lists every supported level.
	Versions = []Version{
		{3, 2}, {3, 3}, {3, 4}, {3, 5}, {3, 6}, {4, 0}, {4, 1}, {4, 2}, {4, 3}, {4, 4}, {4, 5}, {4, 6}, {4, 7}, {4, 8},
	}
)

// String prints "4.8".
func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less orders versions.
func (v Version) Less(o Version) bool {
	return v.Major < o.Major || v.Major == o.Major && v.Minor < o.Minor
}

// Supported tells whether govirt knows the level.
func (v Version) Supported() bool {
	for _, s := range Versions {
		if s == v {
			return true
		}
	}
	return false
}

// ParseVersion reads "4.8".
func ParseVersion(s string) (Version, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return Version{}, fmt.Errorf("%w: version %q", ErrUnknownValue, s)
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil {
		return Version{}, fmt.Errorf("%w: version %q", ErrUnknownValue, s)
	}
	return Version{a, b}, nil
}
