package domxml

import (
	"fmt"

	"libvirt.org/go/libvirtxml"
)

// ForMigration aligns the domain XML a migration's destination rendered
// from the spec with the domain as it runs on the source. libvirt's ABI
// check compares devices in order and address by address, and the running
// domain has its hot-plugged devices in plug order and in the PCI slots
// libvirt chose when they were plugged, which a domain rendered from the
// spec cannot know. So disks take the live order and addresses (matched by
// alias), controllers the live order and addresses (matched by type and
// index; those libvirt added on its own, such as the PCI root or the
// virtio-serial controller, come from the live domain), and the balloon,
// videos and channels their live addresses. What the destination chose for
// itself (sources, its LUN proxy ports, console path, owner tag) stays.
func ForMigration(destXML, liveXML string) (string, error) {
	var dest, live libvirtxml.Domain
	if err := dest.Unmarshal(destXML); err != nil {
		return "", fmt.Errorf("destination domain xml: %w", err)
	}
	if err := live.Unmarshal(liveXML); err != nil {
		return "", fmt.Errorf("live domain xml: %w", err)
	}
	if dest.Devices == nil || live.Devices == nil {
		return destXML, nil
	}
	d, l := dest.Devices, live.Devices
	d.Disks = alignDisks(d.Disks, l.Disks)
	d.Controllers = alignControllers(d.Controllers, l.Controllers)
	if d.MemBalloon != nil && l.MemBalloon != nil {
		d.MemBalloon.Address = l.MemBalloon.Address
	}
	for i := range d.Videos {
		if i < len(l.Videos) {
			d.Videos[i].Address = l.Videos[i].Address
		}
	}
	for i, c := range d.Channels {
		for _, lc := range l.Channels {
			if channelName(c) != "" && channelName(c) == channelName(lc) {
				d.Channels[i].Address = lc.Address
			}
		}
	}
	return dest.Marshal()
}

// alignDisks orders dest's disks as the live ones, with their addresses;
// disks the live domain lacks keep their place at the end.
func alignDisks(dest, live []libvirtxml.DomainDisk) []libvirtxml.DomainDisk {
	byAlias := map[string]int{}
	for i, d := range dest {
		if d.Alias != nil {
			byAlias[d.Alias.Name] = i
		}
	}
	out := make([]libvirtxml.DomainDisk, 0, len(dest))
	used := make([]bool, len(dest))
	for _, l := range live {
		if l.Alias == nil {
			continue
		}
		i, ok := byAlias[l.Alias.Name]
		if !ok || used[i] {
			continue
		}
		d := dest[i]
		d.Address = l.Address
		out = append(out, d)
		used[i] = true
	}
	for i, d := range dest {
		if !used[i] {
			out = append(out, d)
		}
	}
	return out
}

// alignControllers orders dest's controllers as the live ones, with their
// addresses, adding those libvirt created on the source (without their
// libvirt-made aliases, which a definition may not carry).
func alignControllers(dest, live []libvirtxml.DomainController) []libvirtxml.DomainController {
	key := func(c libvirtxml.DomainController) string {
		idx := -1
		if c.Index != nil {
			idx = int(*c.Index)
		}
		return fmt.Sprintf("%s/%d", c.Type, idx)
	}
	byKey := map[string]int{}
	for i, c := range dest {
		byKey[key(c)] = i
	}
	out := make([]libvirtxml.DomainController, 0, len(live))
	used := make([]bool, len(dest))
	for _, l := range live {
		if i, ok := byKey[key(l)]; ok && !used[i] {
			c := dest[i]
			c.Address = l.Address
			out = append(out, c)
			used[i] = true
			continue
		}
		l.Alias = nil
		out = append(out, l)
	}
	for i, c := range dest {
		if !used[i] {
			out = append(out, c)
		}
	}
	return out
}

func channelName(c libvirtxml.DomainChannel) string {
	if c.Target == nil || c.Target.VirtIO == nil {
		return ""
	}
	return c.Target.VirtIO.Name
}
