//go:build !linux

package udp

import (
	"errors"
	"net/netip"
	"time"
)

// socket is not implemented outside Linux: recvmmsg, SO_RCVBUFFORCE and
// SO_RXQ_OVFL are Linux interfaces.
type socket struct {
	local   netip.AddrPort
	granted int
}

func openSocket(string, Configuration, bool) (*socket, error) {
	return nil, errors.New("udp input needs linux")
}

func (s *socket) close()         {}
func (s *socket) isClosed() bool { return true }
func (s *socket) read(*batch, int, bool) (int, error) {
	return 0, errors.New("udp input needs linux")
}
func (s *socket) setDeadline(time.Time)   {}
func (s *socket) takeKernelDrops() uint64 { return 0 }
