# `icebreak serve` in a container: a static binary on distroless, nothing else.
#
#   docker build -t icebreak-serve .
#   docker run --rm -p 8080:8080 icebreak-serve                       # the example model
#   docker run --rm -p 8080:8080 -v "$PWD/models:/models:ro" icebreak-serve \
#       /models/cancer.apr fraud=/models/fraud-v3.apr
#
# The build stage runs on the image's platform (build for arm64 on an arm64 host or with
# `docker buildx build --platform linux/arm64`), and links glibc statically, as the Lambda
# bootstrap does; the runtime stage has no shell, no libc and runs as an unprivileged user.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN triple="$(uname -m)-unknown-linux-gnu" \
 && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --target "$triple" -p icebreak-cli --bin icebreak \
 && cp "target/$triple/release/icebreak" /icebreak \
 && mkdir -p /models && cp examples/model.apr /models/model.apr

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /icebreak /usr/local/bin/icebreak
COPY --from=build /models /models
EXPOSE 8080
# JSON logs on stdout; SIGTERM drains in-flight requests (see docs/SERVER.md). The
# orchestrator's grace period should exceed ICEBREAK_SHUTDOWN_TIMEOUT_MS (default 25 s).
ENV ICEBREAK_HOST=0.0.0.0 ICEBREAK_PORT=8080
ENTRYPOINT ["/usr/local/bin/icebreak", "serve"]
CMD ["/models/model.apr"]
