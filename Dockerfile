# The projector worker image: `docker compose --profile worker up` runs `cdc run` in it.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY connectors connectors
COPY schemas schemas
COPY projections projections
COPY pipeline pipeline
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY connectors connectors
COPY shop shop
USER node
ENTRYPOINT ["node", "dist/pipeline/cli/main.js"]
CMD ["run"]
