package flow

import "net/netip"

// Class is what the inventory knows of one address: whether it is customer
// or provider space, which server it is assigned to and which host group's
// thresholds apply. It is a small value so that classifying a record is two
// table lookups and no allocation.
type Class struct {
	// Server is the index of the server the address is assigned to in the
	// inventory, or -1.
	Server int32
	// Group is the index of the host group; 0 is the default group.
	Group uint16
	// Flags holds the Class* bits.
	Flags ClassFlag
}

// ClassFlag bits of Class.Flags.
type ClassFlag uint8

const (
	// ClassCustomer marks customer address space: assigned to a server, or
	// declared customer space. Detections are made per customer address.
	ClassCustomer ClassFlag = 1 << iota
	// ClassProvider marks the provider's own address space.
	ClassProvider
	// ClassProtected marks addresses that are never blocked.
	ClassProtected
	// ClassReserved marks private and special-purpose addresses (RFC 1918,
	// RFC 6890 and friends) outside the provider's space: traffic to them
	// must not leave a customer server onto the uplink.
	ClassReserved
)

// Customer reports whether the address is customer space.
func (c Class) Customer() bool { return c.Flags&ClassCustomer != 0 }

// Provider reports whether the address is in the provider's space.
func (c Class) Provider() bool { return c.Flags&ClassProvider != 0 }

// Reserved reports whether the address is private or special-purpose space
// outside the provider's prefixes.
func (c Class) Reserved() bool { return c.Flags&ClassReserved != 0 }

// Classifier maps an address to its Class. Implementations are safe for
// concurrent use and do not allocate.
type Classifier interface {
	Classify(addr netip.Addr) Class
}

// Protected reports whether the address is in a protected prefix: never
// blocked, whatever is detected.
func (c Class) Protected() bool { return c.Flags&ClassProtected != 0 }
