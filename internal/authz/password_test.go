package authz

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=12288,t=3,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Errorf("hash %q is not the expected PHC string", h)
	}
	for pw, want := range map[string]bool{
		"correct horse":  true,
		"correct horse ": false,
		"Correct horse":  false,
		"":               false,
	} {
		if got, err := CheckPassword(h, pw); err != nil || got != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, got, err, want)
		}
	}
	if h2, _ := HashPassword("correct horse"); h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if ok, err := CheckPassword("", "anything"); ok || err != nil {
		t.Errorf("CheckPassword with no hash = %v, %v; want false, nil", ok, err)
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	for _, pw := range []string{"", strings.Repeat("x", maxPasswordLen+1)} {
		if _, err := HashPassword(pw); !errors.Is(err, ErrInvalid) {
			t.Errorf("HashPassword(%d bytes): %v, want ErrInvalid", len(pw), err)
		}
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	good, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string{}, parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	for _, c := range []struct{ hash, want string }{
		{"plain", "not a PHC string"},
		{with(1, "argon2i"), "algorithm argon2i"},
		{with(2, "v=16"), "version"},
		{with(3, "m=12288,t=3"), "parameters"},
		{with(3, "m=4194304,t=3,p=1"), "out of range"}, // 4 GiB
		{with(3, "m=12288,t=1000,p=1"), "out of range"},
		{with(3, "m=12288,t=3,p=0"), "out of range"},
		{with(4, "!!"), "salt"},
		{with(5, "c2hvcnQ"), "hash"},
	} {
		_, err := CheckPassword(c.hash, "pw")
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckPassword(%q): %v, want an error about %q", c.hash, err, c.want)
		}
	}
}

// The dummy hash checked for unknown users must cost what a real one does.
func TestDummyHash(t *testing.T) {
	p, err := parseHash(dummyHash)
	if err != nil {
		t.Fatal(err)
	}
	if p.memory != argonMemoryKiB || p.time != argonTime || p.threads != argonThreads || len(p.key) != argonKeyLen {
		t.Errorf("dummy hash parameters m=%d t=%d p=%d len=%d differ from HashPassword's", p.memory, p.time, p.threads, len(p.key))
	}
}

func BenchmarkCheckPassword(b *testing.B) {
	h, err := HashPassword("pw")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := CheckPassword(h, "pw"); err != nil {
			b.Fatal(err)
		}
	}
}
