package builds

// rescueNew is the step of a copy not started (CopyNew): verified when an
// earlier decision's copy is already there and holds, adopted when its
// start went out but was not recorded, else its first attempt starts.
func rescueNew(l copyLook) bool {
	done, why := l.verifiedEarlier()
	if done {
		return true
	}
	if why != "" {
		l.c.Error = why // kept if the copy is given up before it starts
	}
	return l.adopt() || l.startAttempt()
}
