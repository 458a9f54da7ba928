# nginx with the built front end: node builds it, a Python stage renders our nginx template, and the
# runtime image runs nginx as its unprivileged user on port 8080.
FROM node:20.20-bookworm-slim AS build
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11.7-slim-bookworm AS conf
WORKDIR /src
COPY nginx/ nginx/
RUN python -m nginx.render --out /out/nginx.conf --prefix /tmp/nginx --listen 8080 \
    --gateway "gateway:8001" --web-root /usr/share/nginx/html --worker-user none

FROM nginx:1.27.5-alpine
COPY --from=build /frontend/dist /usr/share/nginx/html
COPY --from=conf /out/nginx.conf /etc/nginx/nginx.conf
RUN mkdir -p /tmp/nginx/tmp/body /tmp/nginx/tmp/proxy /tmp/nginx/tmp/fastcgi /tmp/nginx/tmp/uwsgi /tmp/nginx/tmp/scgi \
    && chown -R nginx:nginx /tmp/nginx
USER 101
EXPOSE 8080
CMD ["nginx", "-c", "/etc/nginx/nginx.conf", "-g", "daemon off;"]
