# The webhook as a container (Cloud Run): the wheel, a non-root user, `bess-duos serve`.
# At run time it needs nothing but its environment: BESS_DUOS_WEBHOOK_SECRET (from Secret
# Manager) and, on Cloud Run, the attached service account. See docs/deploy.md.
FROM python:3.11-slim AS build
# A C compiler for the compiled modules (core/*.pyx); the wheel then needs none.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir --upgrade pip setuptools wheel \
 && pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 bess
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER bess
WORKDIR /home/bess
ENV PORT=8080 PYTHONUNBUFFERED=1
EXPOSE 8080
CMD ["bess-duos", "serve"]
