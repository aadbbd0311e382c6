package bench

// Internals the black-box tests reach: the parsers, for fuzzing.
var (
	ParseMetrics = parseMetrics
	ParseVmRSS   = parseVmRSS
	ListeningURL = listeningURL
)
