"""google-genai (the official Python SDK), unchanged, against `gembed serve`: the Batch API for
embeddings (batches.create_embeddings inline and from an uploaded JSONL file, get, list, cancel,
delete) and the Files API (upload, get, list, download, delete).

Server fixes this script needed (src/server/server.ts):
- every call: google-genai 3.x calls the `v1` API by default (`/v1/batches`, `/upload/v1/files`,
  `/v1/files/...:download`); the server answered only `/v1beta/...` (404).
- files.upload: the SDK sends the chunks to the upload session's URL without the API key (as
  Google allows: the session URL is the credential); the server refused them (400 API_KEY_INVALID).
"""

import io
import json
import os
import shutil
import tempfile
import time

from google import genai
from google.genai import errors, types

from anchor import Anchor

anchor = Anchor("genai_batches")
MODEL = "gemini-embedding-001"
TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}
client = genai.Client(api_key=anchor.key, http_options=types.HttpOptions(base_url=anchor.url))


def wait(name: str) -> types.BatchJob:
    """Polls batches.get until the job ends, as the SDK's documentation does."""
    deadline = time.monotonic() + 60
    while True:
        job = client.batches.get(name=name)
        if job.state is not None and job.state.name in TERMINAL:
            return job
        assert time.monotonic() < deadline, f"job {name} still {job.state}"
        time.sleep(0.05)


# --- inline requests ---
inline_texts = ["the first inline text", "the second inline text", "a third one"]
inline = client.batches.create_embeddings(
    model=MODEL,
    src=types.EmbeddingsBatchJobSource(
        inlined_requests=types.EmbedContentBatch(
            contents=inline_texts,
            config=types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT", output_dimensionality=768),
        )
    ),
    config={"display_name": "python-inline"},
)
anchor.check(
    "batches.create_embeddings inline: a batches/ job, PENDING or RUNNING, with its display name",
    inline.name is not None
    and inline.name.startswith("batches/")
    and inline.display_name == "python-inline"
    and inline.state is not None
    and inline.state.name in {"JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"},
    inline,
)
done = wait(inline.name)
responses = done.dest.inlined_embed_content_responses if done.dest else None
anchor.check(
    "batches.get polled until JOB_STATE_SUCCEEDED; dest.inlined_embed_content_responses holds 3 answers in order",
    done.state.name == "JOB_STATE_SUCCEEDED" and responses is not None and len(responses) == 3,
    done,
)
for text, response in zip(inline_texts, responses):
    # The SDK leaves these items as the JSON it received.
    item = response if isinstance(response, dict) else response.model_dump(by_alias=True)
    anchor.record(
        "inline batch",
        text,
        item["response"]["embedding"]["values"],
        task_type="RETRIEVAL_DOCUMENT",
        output_dimensionality=768,
    )

# --- an uploaded JSONL file ---
file_texts = [f"line number {index} of the input file" for index in range(5)]
folder = tempfile.mkdtemp(prefix="gembed-python-")
input_path = os.path.join(folder, "requests.jsonl")
with open(input_path, "w", encoding="utf-8") as handle:
    for index, text in enumerate(file_texts):
        request = {"content": {"parts": [{"text": text}]}, "output_dimensionality": 256}
        if index % 2 == 0:
            request["task_type"] = "RETRIEVAL_QUERY"
        handle.write(json.dumps({"key": f"request-{index}", "request": request}) + "\n")
size = os.path.getsize(input_path)

uploaded = client.files.upload(
    file=input_path, config=types.UploadFileConfig(display_name="python-input", mime_type="jsonl")
)
anchor.check(
    "files.upload of a JSONL file (resumable protocol, chunks without the key): ACTIVE, its size [needed the upload fix]",
    uploaded.name is not None
    and uploaded.name.startswith("files/")
    and uploaded.size_bytes == size
    and uploaded.state is not None
    and uploaded.state.name == "ACTIVE",
    uploaded,
)
fetched = client.files.get(name=uploaded.name)
anchor.check("files.get: the same file", fetched.name == uploaded.name and fetched.size_bytes == size, fetched)
listed_files = [item.name for item in client.files.list(config={"page_size": 1})]
anchor.check("files.list (pages of 1): the uploaded file is listed", uploaded.name in listed_files, listed_files)
round_trip = client.files.download(file=uploaded.name)
with open(input_path, "rb") as handle:
    anchor.check("files.download of the uploaded file: the same bytes", round_trip == handle.read())

# More than the SDK's 8 MiB chunk: an "upload" chunk (answered "active"), then "upload, finalize".
large = bytes(range(256)) * (36 * 1024 + 7)  # 9 MiB and 1,792 bytes
large_file = client.files.upload(
    file=io.BytesIO(large), config={"mime_type": "application/octet-stream", "display_name": "large"}
)
anchor.check(
    f"files.upload of {len(large):,} bytes from a stream (two chunks: 8 MiB, then the rest)",
    large_file.size_bytes == len(large) and large_file.state is not None and large_file.state.name == "ACTIVE",
    large_file,
)
downloaded_large = os.path.join(folder, "large.bin")
client.files.download(file=large_file.name, destination=downloaded_large)
with open(downloaded_large, "rb") as handle:
    anchor.check("files.download to a destination path: the same 9 MiB", handle.read() == large)
client.files.delete(name=large_file.name)

from_file = client.batches.create_embeddings(
    model=MODEL,
    src=types.EmbeddingsBatchJobSource(file_name=uploaded.name),
    config={"display_name": "python-file"},
)
finished = wait(from_file.name)
anchor.check(
    "batches.create_embeddings from the uploaded file: SUCCEEDED, dest.file_name is the responses file",
    finished.state.name == "JOB_STATE_SUCCEEDED"
    and finished.dest is not None
    and finished.dest.file_name is not None
    and finished.dest.file_name.startswith("files/"),
    finished,
)
output = client.files.download(file=finished.dest.file_name)
lines = [json.loads(line) for line in output.decode("utf-8").splitlines() if line.strip()]
by_key = {line["key"]: line for line in lines}
anchor.check(
    "files.download of the responses file: one line per request, each with its key and a 256-value embedding",
    sorted(by_key) == [f"request-{index}" for index in range(5)]
    and all(len(line["response"]["embedding"]["values"]) == 256 for line in lines),
    lines[:1],
)
for index, text in enumerate(file_texts):
    anchor.record(
        "file batch",
        text,
        by_key[f"request-{index}"]["response"]["embedding"]["values"],
        task_type="RETRIEVAL_QUERY" if index % 2 == 0 else None,
        output_dimensionality=256,
    )

# --- list, cancel, delete ---
# The server runs one job at a time: a long job holds the queue, so the job behind it is still
# PENDING when it is cancelled.
long_job = client.batches.create_embeddings(
    model=MODEL,
    src={"inlined_requests": {"contents": [f"text {index}" for index in range(2000)]}},
    config={"display_name": "python-long"},
)
queued = client.batches.create_embeddings(
    model=MODEL,
    src={"inlined_requests": {"contents": ["never embedded"]}},
    config={"display_name": "python-queued"},
)
client.batches.cancel(name=queued.name)
cancelled = wait(queued.name)
anchor.check("batches.cancel of a pending job: JOB_STATE_CANCELLED", cancelled.state.name == "JOB_STATE_CANCELLED", cancelled)
client.batches.cancel(name=long_job.name)
stopped = wait(long_job.name)
anchor.check(
    "batches.cancel of the running job: it ends JOB_STATE_CANCELLED",
    stopped.state.name == "JOB_STATE_CANCELLED",
    stopped,
)

pager = client.batches.list(config=types.ListBatchJobsConfig(page_size=2))
first_page = [job.name for job in pager.page]
names = [job.name for job in pager]  # iterating fetches the next pages
anchor.check(
    "batches.list with page_size 2: pages of 2; iterating the pager lists each of the 4 jobs once",
    len(first_page) == 2
    and len(names) == len(set(names))
    and {inline.name, from_file.name, long_job.name, queued.name} <= set(names),
    names,
)

deleted = client.batches.delete(name=queued.name)
anchor.check("batches.delete: answers", deleted is not None, deleted)
try:
    client.batches.get(name=queued.name)
    raise AssertionError("a deleted job is still there")
except errors.ClientError as error:
    anchor.check("batches.get of the deleted job: ClientError 404", error.code == 404, error)
client.batches.delete(name=long_job.name)

client.files.delete(name=uploaded.name)
try:
    client.files.get(name=uploaded.name)
    raise AssertionError("a deleted file is still there")
except errors.ClientError as error:
    anchor.check("files.delete, then files.get: ClientError 404", error.code == 404, error)

shutil.rmtree(folder, ignore_errors=True)
anchor.finish()
