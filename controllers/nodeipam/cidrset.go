package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net"
)

// maxSubnetBits caps how many node subnets one cluster CIDR may be cut into (2^16), as
// upstream's cidrset does.
const maxSubnetBits = 16

// ErrNoCIDRsRemaining is returned when every node subnet of a cluster CIDR is taken.
var ErrNoCIDRsRemaining = errors.New("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")

// cidrSet hands out the node-sized subnets of one cluster CIDR, round robin from the last one
// given out (as upstream, so a freed subnet is not reused at once while others are free).
type cidrSet struct {
	cluster   *net.IPNet
	nodeMask  int
	bits      int // 32 or 128
	max       int
	used      big.Int // bitmap of taken subnets
	allocated int
	next      int
}

func newCIDRSet(cluster *net.IPNet, nodeMask int) (*cidrSet, error) {
	clusterMask, bits := cluster.Mask.Size()
	if nodeMask < clusterMask || nodeMask > bits {
		return nil, fmt.Errorf("node CIDR mask size /%d does not fit cluster CIDR %s", nodeMask, cluster)
	}
	if nodeMask-clusterMask > maxSubnetBits {
		return nil, fmt.Errorf("node CIDR mask size /%d cuts cluster CIDR %s into more than 2^%d subnets", nodeMask, cluster, maxSubnetBits)
	}
	return &cidrSet{cluster: cluster, nodeMask: nodeMask, bits: bits, max: 1 << (nodeMask - clusterMask)}, nil
}

func (s *cidrSet) subnet(index int) *net.IPNet {
	base := new(big.Int).SetBytes(s.ip(s.cluster.IP))
	base.Add(base, new(big.Int).Lsh(big.NewInt(int64(index)), uint(s.bits-s.nodeMask)))
	b := base.Bytes()
	ip := make(net.IP, s.bits/8)
	copy(ip[len(ip)-len(b):], b)
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(s.nodeMask, s.bits)}
}

func (s *cidrSet) ip(ip net.IP) net.IP {
	if s.bits == 32 {
		return ip.To4()
	}
	return ip.To16()
}

// allocateNext takes the next free subnet.
func (s *cidrSet) allocateNext() (*net.IPNet, error) {
	if s.allocated >= s.max {
		return nil, ErrNoCIDRsRemaining
	}
	for i := range s.max {
		idx := (s.next + i) % s.max
		if s.used.Bit(idx) == 0 {
			s.used.SetBit(&s.used, idx, 1)
			s.allocated++
			s.next = (idx + 1) % s.max
			return s.subnet(idx), nil
		}
	}
	return nil, ErrNoCIDRsRemaining
}

// indices returns the range of subnet indices that cidr covers within the cluster CIDR.
func (s *cidrSet) indices(cidr *net.IPNet) (int, int, error) {
	ones, bits := cidr.Mask.Size()
	if bits != s.bits {
		return 0, 0, fmt.Errorf("CIDR %s is not of the family of cluster CIDR %s", cidr, s.cluster)
	}
	clusterOnes, _ := s.cluster.Mask.Size()
	if !s.cluster.Contains(cidr.IP) && !cidr.Contains(s.cluster.IP) {
		return 0, 0, fmt.Errorf("CIDR %s is outside cluster CIDR %s", cidr, s.cluster)
	}
	shift := uint(s.bits - s.nodeMask)
	clusterStart := new(big.Int).SetBytes(s.ip(s.cluster.IP.Mask(s.cluster.Mask)))
	start := new(big.Int).SetBytes(s.ip(cidr.IP.Mask(cidr.Mask)))
	size := new(big.Int).Lsh(big.NewInt(1), uint(s.bits-ones))
	end := new(big.Int).Add(start, size)
	end.Sub(end, big.NewInt(1))
	if ones < clusterOnes {
		// cidr is larger than the cluster: all of it.
		return 0, s.max - 1, nil
	}
	first := new(big.Int).Sub(start, clusterStart)
	last := new(big.Int).Sub(end, clusterStart)
	return int(first.Rsh(first, shift).Int64()), int(last.Rsh(last, shift).Int64()), nil
}

// occupy marks the subnets cidr covers as taken.
func (s *cidrSet) occupy(cidr *net.IPNet) error {
	first, last, err := s.indices(cidr)
	if err != nil {
		return err
	}
	for i := first; i <= last; i++ {
		if s.used.Bit(i) == 0 {
			s.used.SetBit(&s.used, i, 1)
			s.allocated++
		}
	}
	return nil
}

// release frees the subnets cidr covers.
func (s *cidrSet) release(cidr *net.IPNet) error {
	first, last, err := s.indices(cidr)
	if err != nil {
		return err
	}
	for i := first; i <= last; i++ {
		if s.used.Bit(i) == 1 {
			s.used.SetBit(&s.used, i, 0)
			s.allocated--
		}
	}
	return nil
}
