package divert_test

import "golang.org/x/sys/unix"

func unixTCPInfo(fd int) (uint32, error) {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, err
	}
	return info.Segs_out, nil
}
