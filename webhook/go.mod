module github.com/parley-im/parley/webhook

go 1.26
