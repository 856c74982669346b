package builds

// rescueWaiting is the step of a copy whose attempt failed (CopyWaiting):
// a copy that completed or started all the same is taken (verified,
// adopted); otherwise the next attempt starts at NextAttemptAt, not before.
func rescueWaiting(l copyLook) bool {
	if done, _ := l.verifiedEarlier(); done || l.adopt() {
		return true
	}
	if l.now.Before(l.c.NextAttemptAt) {
		return false
	}
	return l.startAttempt()
}
