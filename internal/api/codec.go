package api

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/api/wirefmt"
)

// maxBody bounds request bodies: a VM with thousands of inline disks fits.
const maxBody = 8 << 20

// wantsJSON tells whether the client asked for JSON (XML is the default).
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}

// errBadBody marks a request body that cannot be read.
var errBadBody = errors.New("bad request body")

// readBody reads a request body up to maxBody.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadBody, err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("%w: larger than %d bytes", errBadBody, maxBody)
	}
	return body, nil
}

// decodeBytes reads body as JSON or XML by the request's Content-Type.
func decodeBytes(r *http.Request, body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return fmt.Errorf("%w: empty", errBadBody)
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" || mt == "" && strings.HasPrefix(strings.TrimSpace(string(body)), "{") {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("%w: %v", errBadBody, err)
		}
		if dec.More() {
			return fmt.Errorf("%w: data after the JSON object", errBadBody)
		}
		return nil
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %v", errBadBody, err)
	}
	return nil
}

// bodyEncoder renders response bodies: the API's wire types through
// wirefmt (the same bytes as encoding/xml's MarshalIndent and
// encoding/json's Marshal, several times faster on long lists), anything
// else through the standard encoders. Its buffers are reused across
// requests.
type bodyEncoder struct {
	fast *wirefmt.Encoder
	bufs sync.Pool // *[]byte
}

// maxPooledBody is the largest buffer kept for reuse: a list of a few
// thousand attachments; a larger answer's buffer goes to the collector.
const maxPooledBody = 4 << 20

func newBodyEncoder() *bodyEncoder {
	return &bodyEncoder{fast: wirefmt.New(reflect.TypeFor[ovirt.Bool](), reflect.TypeFor[ovirt.Int]())}
}

// write encodes v as the client asked and sends it with status.
func (e *bodyEncoder) write(w http.ResponseWriter, r *http.Request, status int, v any) {
	bp, _ := e.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b, err := (*bp)[:0], error(nil)
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		if b, err = e.fast.AppendJSON(b, v); errors.Is(err, wirefmt.ErrUnsupported) {
			b, err = json.Marshal(v)
		}
	} else {
		w.Header().Set("Content-Type", "application/xml")
		b = append(b, xml.Header...)
		if b, err = e.fast.AppendXML(b, v); errors.Is(err, wirefmt.ErrUnsupported) {
			var x []byte
			x, err = xml.MarshalIndent(v, "", "  ")
			b = append([]byte(xml.Header), x...)
		}
	}
	if err != nil {
		http.Error(w, "encoding the response failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
	if cap(b) <= maxPooledBody {
		*bp = b
		e.bufs.Put(bp)
	}
}

func parseNonNegative(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a non-negative integer: %q", s)
	}
	return n, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
