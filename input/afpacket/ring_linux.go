package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
)

// Offsets in a TPACKET_V3 block descriptor (struct tpacket_block_desc with
// struct tpacket_hdr_v1) and packet header (struct tpacket3_hdr), from
// linux/if_packet.h.
const (
	blockStatusOff = 8
	blockNumOff    = 12
	blockFirstOff  = 16
	pktNextOff     = 0
	pktSecOff      = 4
	pktNsecOff     = 8
	pktSnapOff     = 12
	pktLenOff      = 16
	pktMacOff      = 24
	pktHeaderLen   = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
)

// ARPHRD_ values of the interfaces decoded.
const (
	arphrdEther    = 1
	arphrdLoopback = 772
	arphrdNone     = 65534 // tun devices: raw IP
)

// ring is one AF_PACKET socket with its TPACKET_V3 ring and reader state.
type ring struct {
	cfg      Configuration
	m        *metrics
	fd       int
	wakeFD   int // eventfd that ends the reader's poll at Stop
	stopping atomic.Bool
	mem      []byte
	cur      int
	linkType flow.LinkType

	skip uint32    // deterministic sampling: packets left before the next kept
	rng  *rand.PCG // random sampling
	recs []flow.Record
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openRing creates, maps and binds one ring, in the caller's network
// namespace. On error nothing stays open.
func openRing(cfg Configuration, m *metrics) (r *ring, err error) {
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	r = &ring{cfg: cfg, m: m, fd: fd, wakeFD: -1, skip: cfg.SamplingRate - 1,
		recs: make([]flow.Record, 0, cfg.BatchSize)}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if cfg.Sampling == SamplingRandom {
		r.rng = rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid()))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("PACKET_VERSION: %w", err)
	}
	const frameSize = 2048 // ignored by TPACKET_V3 beyond this consistency check
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.Blocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(cfg.BlockSize / frameSize * cfg.Blocks),
		Retire_blk_tov: uint32(cfg.BlockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("PACKET_RX_RING of %d × %d bytes: %w", cfg.Blocks, cfg.BlockSize, err)
	}
	if r.mem, err = unix.Mmap(fd, 0, cfg.BlockSize*cfg.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	switch sa.(*unix.SockaddrLinklayer).Hatype {
	case arphrdEther, arphrdLoopback:
		r.linkType = flow.LinkTypeEthernet
	case arphrdNone:
		r.linkType = flow.LinkTypeRaw
	default:
		return nil, fmt.Errorf("link type ARPHRD %d not supported (Ethernet, loopback, tun)", sa.(*unix.SockaddrLinklayer).Hatype)
	}
	if cfg.Promiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, fmt.Errorf("promiscuous mode: %w", err)
		}
	}
	if cfg.Sockets > 1 {
		group := cfg.FanoutGroup
		if group == 0 {
			group = uint16(os.Getpid()) ^ uint16(ifi.Index)<<8
		}
		v := int(group) | int(fanoutModes[cfg.FanoutMode])<<16
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, v); err != nil {
			return nil, fmt.Errorf("PACKET_FANOUT group %d: %w", group, err)
		}
	}
	if r.wakeFD, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return r, nil
}

func (r *ring) close() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
	if r.wakeFD >= 0 {
		unix.Close(r.wakeFD)
		r.wakeFD = -1
	}
}

// wake makes run return.
func (r *ring) wake() {
	r.stopping.Store(true)
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(r.wakeFD, one[:])
}

// run reads blocks until wake is called.
func (r *ring) run(sink flow.Sink) error {
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN | unix.POLLERR}, {Fd: int32(r.wakeFD), Events: unix.POLLIN}}
	bs := r.cfg.BlockSize
	for !r.stopping.Load() {
		blk := r.mem[r.cur*bs : (r.cur+1)*bs]
		status := (*uint32)(unsafe.Pointer(&blk[blockStatusOff]))
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
			r.stats()
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				return fmt.Errorf("poll: %w", err)
			}
			continue
		}
		r.block(blk, sink)
		atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
		r.cur = (r.cur + 1) % r.cfg.Blocks
	}
	r.stats()
	return nil
}

// block decodes the sampled packets of one block and flushes them: their
// Header points into the block, which goes back to the kernel after.
func (r *ring) block(blk []byte, sink flow.Sink) {
	n := int(binary.NativeEndian.Uint32(blk[blockNumOff:]))
	off := int(binary.NativeEndian.Uint32(blk[blockFirstOff:]))
	r.m.packets.Add(float64(n))
	var sampled, notIP, malformed int
	for range n {
		if off < 0 || off+pktHeaderLen > len(blk) {
			break // cannot happen with a sane kernel; do not trust it blindly
		}
		h := blk[off:]
		next := int(binary.NativeEndian.Uint32(h[pktNextOff:]))
		if r.keep() {
			sampled++
			snap := int(binary.NativeEndian.Uint32(h[pktSnapOff:]))
			mac := int(binary.NativeEndian.Uint16(h[pktMacOff:]))
			if mac+snap <= len(h) {
				switch r.decode(h, h[mac:mac+snap]) {
				case packet.ErrNotIP:
					notIP++
				case nil:
				default:
					malformed++
				}
			}
			if len(r.recs) == cap(r.recs) {
				r.flush(sink)
			}
		}
		if next == 0 {
			break
		}
		off += next
	}
	r.flush(sink)
	r.m.sampled.Add(float64(sampled))
	if notIP > 0 {
		r.m.notIP.Add(float64(notIP))
	}
	if malformed > 0 {
		r.m.malformed.Add(float64(malformed))
	}
}

// decode appends the record of frame, whose ring header is h. Errors are
// packet.ErrNotIP or any other decode error.
func (r *ring) decode(h, frame []byte) error {
	r.recs = append(r.recs, flow.Record{})
	rec := &r.recs[len(r.recs)-1]
	if err := packet.Decode(r.linkType, frame, rec); err != nil {
		r.recs = r.recs[:len(r.recs)-1]
		if errors.Is(err, packet.ErrNotIP) {
			return packet.ErrNotIP
		}
		return err
	}
	t := int64(binary.NativeEndian.Uint32(h[pktSecOff:]))*1e9 + int64(binary.NativeEndian.Uint32(h[pktNsecOff:]))
	rec.Start, rec.End = t, t
	rec.SamplingRate = r.cfg.SamplingRate
	rec.Header = frame[:min(len(frame), r.cfg.HeaderBytes):min(len(frame), r.cfg.HeaderBytes)]
	rec.HeaderType = r.linkType
	rec.OrigLen = binary.NativeEndian.Uint32(h[pktLenOff:])
	return nil
}

// keep says whether the next packet is sampled.
func (r *ring) keep() bool {
	if r.cfg.SamplingRate == 1 {
		return true
	}
	if r.rng != nil {
		return r.rng.Uint64()%uint64(r.cfg.SamplingRate) == 0
	}
	if r.skip == 0 {
		r.skip = r.cfg.SamplingRate - 1
		return true
	}
	r.skip--
	return false
}

func (r *ring) flush(sink flow.Sink) {
	if len(r.recs) == 0 {
		return
	}
	r.m.records.Add(float64(len(r.recs)))
	sink(r.recs)
	r.recs = r.recs[:0]
}

// stats adds the kernel's drop counters, which reading resets.
func (r *ring) stats() {
	st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	if st.Drops > 0 {
		r.m.kernelDrops.Add(float64(st.Drops))
	}
	if st.Freeze_q_cnt > 0 {
		r.m.freezes.Add(float64(st.Freeze_q_cnt))
	}
}
