package builds

// rescueCheck is the step of a VHD the distributor wrote to its own uri
// (CopyCheck): nothing is copied; it is delivered once a VHD is there, and
// given up when the uri holds none.
func rescueCheck(l copyLook) bool {
	c, src := l.c, l.ob.Source
	if l.ob.SourceMissing || src.Size <= 0 {
		c.State, c.Error = CopyGaveUp, "the distributor's uri holds no VHD"
		return l.decided(c.Error)
	}
	c.State, c.SourceETag, c.SourceLength, c.VerifiedAt = CopyDelivered, src.ETag, src.Size, l.now
	return l.decided(c.RunOutputName + " is at its uri")
}
