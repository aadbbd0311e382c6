package delivery

// ResponseSnippet is how a reply's body is kept in the attempt log, for
// its fuzz test.
var ResponseSnippet = responseSnippet
