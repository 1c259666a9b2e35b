# syntax=docker/dockerfile:1
# One image per service, from this one file:
#   docker build --build-arg SERVICE=backend --build-arg PORT=8000 -t ghcr.io/product-store/backend:0.1.0 .
# (or `npx nx run-many -t docker-build`). Production dependencies only, a numeric non-root user, a
# HEALTHCHECK on /health, and tracing loaded before the service (it stays off without an endpoint).
# Node.js 24, the active LTS line (Node 20 reached its end of life in April 2026). The code also runs
# on Node 20.10+; NODE_IMAGE may name any Debian-based Node image (the deploy test builds with its own).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY services ./services
COPY docs/openapi.json ./docs/openapi.json
ARG SERVICE
RUN test -n "$SERVICE" && test -f "services/$SERVICE/src/main.ts" \
 && npx esbuild "services/$SERVICE/src/main.ts" --bundle --platform=node --target=node24 --format=cjs --packages=external --sourcemap --outfile=dist/main.js \
 && npx esbuild services/kit/src/instrumentation.ts --bundle --platform=node --target=node24 --format=cjs --packages=external --outfile=dist/instrumentation.js

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ARG SERVICE
ARG PORT
# HOST: a container listens on all its interfaces (the kit's default is loopback, for development).
ENV NODE_ENV=production \
    ENVIRONMENT=production \
    HOST=0.0.0.0 \
    PORT=${PORT} \
    OTEL_SERVICE_NAME=${SERVICE}
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 10001:10001
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# deploy/src/images.ts (serviceImageCommand) holds this command; its V8 flags size the young generation once.
CMD ["node", "--min-semi-space-size=8", "--max-semi-space-size=8", "--enable-source-maps", "--require", "./dist/instrumentation.js", "dist/main.js"]
