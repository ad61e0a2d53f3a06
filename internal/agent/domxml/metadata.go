package domxml

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// vmMetadata is govirt's element inside <metadata>. The host element is
// unqualified, so it matches whatever prefix (or none) the reader sees.
type vmMetadata struct {
	Host *string `xml:"host"`
}

// metadataXML renders the inner XML of <metadata>. libvirtxml stores
// metadata as raw inner XML, so the host id is escaped here.
func metadataXML(hostID string) (string, error) {
	if err := xmlText("host id", hostID); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<%s:vm xmlns:%s="%s"><host>`, MetadataKey, MetadataKey, MetadataNS)
	if err := xml.EscapeText(&b, []byte(hostID)); err != nil {
		return "", fmt.Errorf("escape host id: %w", err)
	}
	fmt.Fprintf(&b, `</host></%s:vm>`, MetadataKey)
	return b.String(), nil
}

// HostIDFromMetadata reads the owning host from what virDomainGetMetadata
// returns for MetadataNS. libvirt 9.0 returns the element without any
// namespace (`<vm><host>…</host></vm>`); other versions or callers may keep
// a prefix, so both are accepted, but an element of another namespace is not.
func HostIDFromMetadata(metadataXML string) (string, error) {
	d := xml.NewDecoder(strings.NewReader(metadataXML))
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("govirt metadata: no element: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Local != "vm" || (start.Name.Space != MetadataNS && start.Name.Space != "") {
			return "", fmt.Errorf("govirt metadata: unexpected element {%s}%s", start.Name.Space, start.Name.Local)
		}
		return decodeHost(d, start)
	}
}

// hostFromDomainMetadata finds govirt's element among the children of a
// domain's <metadata>, where other applications may keep theirs. It returns
// "" when govirt's element is absent: the domain is not govirt's.
func hostFromDomainMetadata(inner string) (string, error) {
	d := xml.NewDecoder(strings.NewReader(inner))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("domain metadata: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Space == MetadataNS && start.Name.Local == "vm" {
			return decodeHost(d, start)
		}
		if err := d.Skip(); err != nil {
			return "", fmt.Errorf("domain metadata: %w", err)
		}
	}
}

func decodeHost(d *xml.Decoder, start xml.StartElement) (string, error) {
	var m vmMetadata
	if err := d.DecodeElement(&m, &start); err != nil {
		return "", fmt.Errorf("govirt metadata: %w", err)
	}
	if m.Host == nil || *m.Host == "" {
		return "", errors.New("govirt metadata: no host")
	}
	return *m.Host, nil
}
