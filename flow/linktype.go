package flow

// LinkType is a pcap LINKTYPE_ value: it says how the bytes of a captured
// frame begin (https://www.tcpdump.org/linktypes.html).
type LinkType uint16

// Link types abuseguard decodes.
const (
	// LinkTypeNull is BSD loopback: a 4-byte host-order address family.
	LinkTypeNull LinkType = 0
	// LinkTypeEthernet is IEEE 802.3 Ethernet, with optional 802.1Q/802.1ad tags.
	LinkTypeEthernet LinkType = 1
	// LinkTypeRaw is raw IPv4 or IPv6, told apart by the version nibble.
	LinkTypeRaw LinkType = 101
	// LinkTypeLinuxSLL is the Linux "cooked" capture header, version 1.
	LinkTypeLinuxSLL LinkType = 113
	// LinkTypeIPv4 is raw IPv4.
	LinkTypeIPv4 LinkType = 228
	// LinkTypeIPv6 is raw IPv6.
	LinkTypeIPv6 LinkType = 229
	// LinkTypeLinuxSLL2 is the Linux "cooked" capture header, version 2.
	LinkTypeLinuxSLL2 LinkType = 276
)

// String returns the link type's name as pcap spells it.
func (t LinkType) String() string {
	switch t {
	case LinkTypeNull:
		return "NULL"
	case LinkTypeEthernet:
		return "EN10MB"
	case LinkTypeRaw:
		return "RAW"
	case LinkTypeLinuxSLL:
		return "LINUX_SLL"
	case LinkTypeIPv4:
		return "IPV4"
	case LinkTypeIPv6:
		return "IPV6"
	case LinkTypeLinuxSLL2:
		return "LINUX_SLL2"
	}
	return "LINKTYPE_" + itoa(uint64(t))
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
