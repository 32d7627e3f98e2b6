# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone on distroless. The action runs as
# root (GitHub needs that for workspace access), and the post step is the
# same binary under a second name (it dispatches on argv[0]).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/tinylabscom/mvm-verify/internal/cli.Version=${VERSION}" \
      -o /out/bin/mvm-verify . \
 && ln /out/bin/mvm-verify /out/bin/mvm-verify-post

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/bin/ /usr/local/bin/
USER 0:0
ENTRYPOINT ["/usr/local/bin/mvm-verify"]
