package builds

// rescueNoDestination is the step of a copy with nowhere to go (no
// VHD_DESTINATION): given up, so the build ends rescue-failed and its
// template, with the staging VHD, is kept.
func rescueNoDestination(l copyLook) bool {
	l.c.State, l.c.Error = CopyGaveUp, "VHD_DESTINATION is not set: the VHD cannot be copied out of the staging resource group"
	return l.decided(l.c.Error)
}
