# One image for every ResearchOps role: api, worker, dashboard (the compose file picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RESEARCHOPS_DATA_DIR=/data

WORKDIR /app
# Dependencies first, so code edits do not reinstall them; at the versions the suite passed with.
COPY pyproject.toml README.md constraints.txt ./
RUN mkdir -p core dashboard && touch core/__init__.py dashboard/__init__.py \
    && pip install -c constraints.txt . && pip uninstall -y researchops
COPY core ./core
COPY dashboard ./dashboard
COPY samples ./samples
COPY .streamlit ./.streamlit
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 researchops \
    && mkdir -p /data && chown researchops /data
USER researchops
VOLUME ["/data"]
EXPOSE 8000 8501 9464 9465
CMD ["uvicorn", "core.api:app_factory", "--factory", "--host", "0.0.0.0", "--port", "8000"]
