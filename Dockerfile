# sharpstream: CPU image (onnxruntime-node CPU provider, tfjs wasm backend).
# Build: docker build -t sharpstream .
# Run:   docker run --rm -v "$PWD/data:/data" sharpstream predict --scene /data/scene.zip --out /data/out --model bicubic
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: onnxruntime-node's script would download CUDA libraries; sharp ships prebuilt.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY satellites ./satellites
COPY raster ./raster
COPY scene ./scene
COPY cog ./cog
COPY model ./model
COPY patches ./patches
COPY stac ./stac
COPY pipeline ./pipeline
COPY cli ./cli
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json .npmrc ./
COPY bin ./bin
COPY satellites ./satellites
COPY models ./models
RUN useradd --create-home --uid 10001 sharpstream
USER sharpstream
ENTRYPOINT ["node", "/app/bin/sharpstream.js"]
CMD ["--help"]
