# Convenience targets; each is one of the README's commands.
.PHONY: run test lint build

run:
	go run .

test:
	scripts/test.sh

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

build:
	go build -o wxcas .
