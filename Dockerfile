# sharpstream: CPU image (onnxruntime-node CPU provider, tfjs wasm backend): `predict`, `run` (the
# streaming worker: inbox, Kafka or STAC API sources), `serve`, `replay` and the other commands.
# Build: docker build -t sharpstream .
# Run:   docker run --rm -v "$PWD/data:/data" sharpstream predict --scene /data/scene.zip --out /data/out --model bicubic
#        docker run --rm sharpstream run --kafka kafka:9092 --topic scenes --group sharpstream --out /data/out
# The GPU image is Dockerfile.gpu; docker-compose.yml runs both with Kafka and a STAC catalogue.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# compilers for native modules without a prebuilt binary for this platform (better-sqlite3 falls back to them)
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 make g++ ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: onnxruntime-node's script would download CUDA libraries; sharp ships prebuilt.
# better-sqlite3 (the embedded catalogue and job table) does need its install step: rebuilt alone.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY satellites ./satellites
COPY raster ./raster
COPY scene ./scene
COPY cog ./cog
COPY model ./model
COPY patches ./patches
COPY stac ./stac
COPY pipeline ./pipeline
COPY operators ./operators
COPY connectors ./connectors
COPY server ./server
COPY jobs ./jobs
COPY train ./train
COPY cli ./cli
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev
# a CPU image: no WebGPU runtime (Dawn), and no other operating system's onnxruntime binaries
RUN rm -rf node_modules/webgpu node_modules/@tensorflow/tfjs-backend-webgpu node_modules/onnxruntime-node/bin/napi-v6/win32 node_modules/onnxruntime-node/bin/napi-v6/darwin

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json .npmrc ./
COPY bin ./bin
COPY satellites ./satellites
COPY models ./models
# the results page's static files are served from the source tree (dist/ holds only compiled code)
COPY server/web/static ./server/web/static
RUN useradd --create-home --uid 10001 sharpstream && mkdir -p /data && chown sharpstream /data
USER sharpstream
ENTRYPOINT ["node", "/app/bin/sharpstream.js"]
CMD ["--help"]
