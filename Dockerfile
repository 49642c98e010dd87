FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir .
EXPOSE 8700 8701 8702 8703
CMD ["peerpipe", "--help"]
