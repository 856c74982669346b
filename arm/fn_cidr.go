package arm

import (
	"fmt"
	"math/big"
	"net/netip"
)

// The CIDR functions of ARM templates (Microsoft Learn,
// template-functions-cidr): parseCidr, cidrSubnet and cidrHost, for IPv4
// and IPv6 ranges.
var cidrFunctions = map[string]armFunc{
	"parsecidr":  {min: 1, max: 1, call: parseCidrFn},
	"cidrsubnet": {min: 3, max: 3, call: cidrSubnetFn},
	"cidrhost":   {min: 2, max: 2, call: cidrHostFn},
}

// readCidr reads argument i as a CIDR range, its address made the
// network's.
func readCidr(a []*node, i int) (netip.Prefix, error) {
	s, err := wantString(a, i)
	if err != nil {
		return netip.Prefix{}, err
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 or IPv6 range in CIDR notation (e.g. 10.144.0.0/20)", clip(s))
	}
	return p.Masked(), nil
}

func addrInt(a netip.Addr) *big.Int { return new(big.Int).SetBytes(a.AsSlice()) }

func intAddr(v *big.Int, v4 bool) netip.Addr {
	n := 16
	if v4 {
		n = 4
	}
	b := v.FillBytes(make([]byte, n))
	a, _ := netip.AddrFromSlice(b)
	return a
}

// hostBits is the count of addresses of a range, as a shift.
func rangeInfo(p netip.Prefix) (network, last *big.Int, bits int) {
	bits = p.Addr().BitLen()
	network = addrInt(p.Addr())
	size := new(big.Int).Lsh(big.NewInt(1), uint(bits-p.Bits()))
	last = new(big.Int).Add(network, size)
	last.Sub(last, big.NewInt(1))
	return network, last, bits
}

// parseCidrFn is parseCidr(network): {network, netmask, broadcast (IPv4),
// firstUsable, lastUsable, cidr}. In IPv4 the network and broadcast
// addresses are not usable (except in a /31 or /32, which have no others);
// in IPv6 every address is (the page's example: fdad:3236:5555::/48 has
// firstUsable fdad:3236:5555::).
func parseCidrFn(_ *evaluator, a []*node, _ int) (*node, error) {
	p, err := readCidr(a, 0)
	if err != nil {
		return nil, err
	}
	v4 := p.Addr().Is4()
	network, last, bits := rangeInfo(p)
	maskInt := new(big.Int).Lsh(big.NewInt(1), uint(bits))
	maskInt.Sub(maskInt, big.NewInt(1))
	hostMask := new(big.Int).Lsh(big.NewInt(1), uint(bits-p.Bits()))
	hostMask.Sub(hostMask, big.NewInt(1))
	maskInt.Xor(maskInt, hostMask)
	first, lastUsable := network, last
	if v4 && p.Bits() < 31 {
		first = new(big.Int).Add(network, big.NewInt(1))
		lastUsable = new(big.Int).Sub(last, big.NewInt(1))
	}
	o := object("network", intAddr(network, v4).String(), "netmask", intAddr(maskInt, v4).String())
	if v4 {
		o.Members = append(o.Members, member{Key: "broadcast", Val: strNode(intAddr(last, v4).String())})
	}
	o.Members = append(o.Members,
		member{Key: "firstUsable", Val: strNode(intAddr(first, v4).String())},
		member{Key: "lastUsable", Val: strNode(intAddr(lastUsable, v4).String())},
		member{Key: "cidr", Val: intNode(int64(p.Bits()))})
	return o, nil
}

// cidrSubnetFn is cidrSubnet(network, newCIDR, subnetIndex): the
// subnetIndex-th range of prefix length newCIDR inside network.
func cidrSubnetFn(_ *evaluator, a []*node, _ int) (*node, error) {
	p, err := readCidr(a, 0)
	if err != nil {
		return nil, err
	}
	newBits, err := wantInt(a, 1)
	if err != nil {
		return nil, err
	}
	index, err := wantInt(a, 2)
	if err != nil {
		return nil, err
	}
	bits := p.Addr().BitLen()
	if newBits < int64(p.Bits()) || newBits > int64(bits) {
		return nil, fmt.Errorf("newCIDR %d must be from %d (the range's own) to %d", newBits, p.Bits(), bits)
	}
	count := new(big.Int).Lsh(big.NewInt(1), uint(newBits-int64(p.Bits())))
	if index < 0 || big.NewInt(index).Cmp(count) >= 0 {
		return nil, fmt.Errorf("subnetIndex %d is outside the %s subnets of /%d in %s", index, count, newBits, p)
	}
	off := new(big.Int).Lsh(big.NewInt(index), uint(int64(bits)-newBits))
	start := new(big.Int).Add(addrInt(p.Addr()), off)
	return strNode(fmt.Sprintf("%s/%d", intAddr(start, p.Addr().Is4()), newBits)), nil
}

// cidrHostFn is cidrHost(network, hostIndex): the hostIndex-th usable
// address, 0 being the one after the network address (the page's
// examples: 10.144.3.0/24 index 0 is 10.144.3.1, fdad:3236:5555:3000::/52
// index 0 is fdad:3236:5555:3000::1); in IPv4 the broadcast address is not
// a host.
func cidrHostFn(_ *evaluator, a []*node, _ int) (*node, error) {
	p, err := readCidr(a, 0)
	if err != nil {
		return nil, err
	}
	index, err := wantInt(a, 1)
	if err != nil {
		return nil, err
	}
	v4 := p.Addr().Is4()
	network, last, _ := rangeInfo(p)
	if v4 && p.Bits() < 31 {
		last = new(big.Int).Sub(last, big.NewInt(1))
	}
	host := new(big.Int).Add(network, big.NewInt(index+1))
	if index < 0 || host.Cmp(last) > 0 {
		return nil, fmt.Errorf("hostIndex %d is outside the hosts of %s", index, p)
	}
	return strNode(intAddr(host, v4).String()), nil
}
