package netns

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolSetTxCsum is ETHTOOL_STXCSUM from linux/ethtool.h: the legacy
// ioctl that ethtool -K dev tx off uses. Turning TX checksumming off takes
// TSO and the other segmentation offloads that depend on it with it. The
// ethtool program is not needed (it is not installed on the build machine).
const ethtoolSetTxCsum = 0x17

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with its union holding a pointer (40 bytes on
// 64-bit Linux).
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// wireLike turns TX checksum offload (and with it TSO/GSO) off on dev, in
// ns or in the test process's namespace when ns is nil.
func wireLike(ns *NS, dev string) error {
	off := func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		val := ethtoolValue{cmd: ethtoolSetTxCsum, data: 0}
		var ifr ifreqData
		copy(ifr.name[:], dev)
		ifr.data = unsafe.Pointer(&val)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
		runtime.KeepAlive(&val)
		if errno != 0 {
			return fmt.Errorf("ethtool tx off: %w", errno)
		}
		return nil
	}
	var err error
	if ns == nil {
		err = off()
	} else {
		err = ns.Do(off)
	}
	if err != nil {
		where := "root namespace"
		if ns != nil {
			where = ns.Name
		}
		return fmt.Errorf("%s in %s: %w", dev, where, err)
	}
	return nil
}
