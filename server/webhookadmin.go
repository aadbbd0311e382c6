package server

// notifyWorker wakes the delivery worker, when callbacks are on: the
// events an admin just replayed or recovered are due now, and without it
// the worker would find them only at its next idle wake-up (up to 30s).
func (s *Server) notifyWorker() {
	if s.worker != nil {
		s.worker.Notify()
	}
}
