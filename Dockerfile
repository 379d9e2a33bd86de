# sluice in a container. Build: docker build -t sluice .
# Run in front of your API (your policy file replaces the starter one):
#   docker run -p 8080:8080 -v ./policy.yaml:/etc/sluice/policy.yaml:ro \
#     -v sluice-data:/var/lib/sluice sluice
# Try the demo: docker compose up (compose.yaml).
#
# The image runs the official Node 24 (the version package.json pins as its `node` dev
# dependency, which `npm ci --omit=dev` leaves out): sluice's TypeScript runs as it is,
# by Node's type stripping, so there is no build step, only the runtime dependencies.
ARG NODE_VERSION=24.9.0

# Stage 1: the runtime dependencies only, installed exactly as the lockfile says.
FROM node:${NODE_VERSION}-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 2: the image: Node, the dependencies, sluice's sources; no npm cache, no tests.
FROM node:${NODE_VERSION}-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY deploy/policy.yaml /etc/sluice/policy.yaml
# The data directory (keys, incidents, audit trail, incident journals) belongs to the
# unprivileged `node` user of the base image (uid 1000), and is a volume: it outlives
# the container. Back it up with SQLite's .backup (docs/operations.md).
RUN mkdir -p /var/lib/sluice && chown node:node /var/lib/sluice
VOLUME ["/var/lib/sluice"]
USER node
EXPOSE 8080
# Ready: listening and not shutting down. Slim images have no curl: Node's fetch asks.
# The port is the one --listen names below; change both together.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, Node itself as process 1, never npm or a shell: `docker stop` (SIGTERM)
# reaches sluice, which drains (at most about 15 s: keep the stop timeout above that),
# and `docker kill --signal=HUP` rereads the policy file.
ENTRYPOINT ["node", "src/cli/main.ts"]
CMD ["serve", "--config", "/etc/sluice/policy.yaml", "--listen", "0.0.0.0:8080", "--data", "/var/lib/sluice"]
