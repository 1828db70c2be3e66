"""Generation on a Ray actor pool: each actor holds the model, this process keeps the batching and the cache.

`RayGenerator` is a `Generator` whose batches run on actors. This process renders the
conversations, sorts them by token length and cuts the same batches with the same seeds as
the local generator, so greedy answers are the local ones; the actors (one per GPU on a GPU
cluster, else one per CPU) each load the model once and run `Generator._generate_batch`.
Cache keys are computed here exactly as locally, with the actors' precision, so an update
cycle reuses answers generated either way. `model` loads a local copy only when a caller
needs the weights themselves (fluency scores, the KL drift measure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from tenet.compiler.settings import GENERATION_ENGINES
from tenet.runtime.ray_cluster import connect
from tenet.runtime.synthesize.generate import Generated, Generator, Messages, _load_merged



class GenerationActor:
    """A Ray actor holding one local `Generator` (no cache: the driver keeps it)."""

    def __init__(self, model_path: str, settings: dict[str, Any]):
        """Load the model on the actor's device (the GPU Ray gave it, if any)."""
        self.generator = Generator(model_path, **settings)

    def dtype(self) -> str:
        """The precision the actor generates in."""
        return str(self.generator.dtype)

    def generate_batch(self, texts: list[str], n: int, temperature: float, seed: int, top_p: float,
                       cap: int) -> list[list[Generated]]:
        """One batch of rendered prompts, as the local generator runs it."""
        return self.generator._generate_batch(texts, n, temperature, seed, top_p, cap)


_LIVE: list["RayGenerator"] = []  # the generator whose actors are running


@dataclass(eq=False)
class RayGenerator(Generator):
    """A `Generator` whose batches run on an actor pool of the Ray cluster at `ray_address`."""

    ray_address: str | None = None  # the operator's cluster (default RAY_ADDRESS, else a local one)
    actors: int | None = None  # default: one per GPU, else one per CPU of the cluster

    def __post_init__(self) -> None:
        from transformers import AutoTokenizer

        import ray

        connect(self.ray_address)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, trust_remote_code=False)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._gpus = int(ray.cluster_resources().get("GPU", 0))
        self.device = "cuda" if self._gpus else "cpu"
        self.tokens_generated = 0
        self._fingerprint = None
        self._model = None
        self._dtype = None
        self._actors: list | None = None

    @property
    def dtype(self) -> str:
        """The precision the actors generate in (part of the cache keys, as locally)."""
        import ray

        if self._dtype is None:
            self._dtype = ray.get(self._pool()[0].dtype.remote())
        return self._dtype

    def _pool(self) -> list:
        """The actors, started on first use. One pool lives at a time: a cycle's models take the
        GPUs in turn (base, then trained), so starting one releases the other's."""
        import ray

        if self._actors is None:
            for other in _LIVE:
                other.release()
            count = self.actors or self._gpus or max(1, int(ray.cluster_resources().get("CPU", 1)))
            settings = dict(batch_size=self.batch_size, max_new_tokens=self.max_new_tokens, device=self.device,
                            precision=self.precision, system_prompt=self.system_prompt)
            remote = ray.remote(num_gpus=1 if self._gpus else 0, num_cpus=0 if self._gpus else 1)(GenerationActor)
            self._actors = [remote.remote(self.model_path, settings) for _ in range(count)]
            _LIVE[:] = [self]
        return self._actors

    def release(self) -> None:
        """Stop the actors (they start again if this generator generates again)."""
        import ray

        for actor in self._actors or []:
            ray.kill(actor)
        self._actors = None
        if self in _LIVE:
            _LIVE.remove(self)

    @property
    def model(self):
        """The model's weights in this process, loaded on first use (fluency, drift)."""
        if self._model is None:
            self._model = _load_merged(self.model_path).eval()
        return self._model

    def _generate(self, conversations: Sequence[Messages], n: int, temperature: float, seed: int,
                  top_p: float, cap: int) -> list[list[Generated]]:
        from ray.util import ActorPool

        texts = [self.render(c) for c in conversations]
        lengths = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))
        jobs = [(order[start:start + self.batch_size], seed + start) for start in range(0, len(texts), self.batch_size)]
        pool = ActorPool(self._pool())
        batches = pool.map(lambda actor, job: actor.generate_batch.remote(
            [texts[i] for i in job[0]], n, temperature, job[1], top_p, cap), jobs)
        out: list[list[Generated]] = [[] for _ in texts]
        for (chunk, _), answers in zip(jobs, batches):
            for i, generated in zip(chunk, answers):
                out[i] = [Generated(*g) for g in generated]
                self.tokens_generated += sum(g.tokens for g in out[i])
        return out


def open_generator(model_path: str, engine: str = "local", ray_address: str | None = None,
                   **settings: Any) -> Generator:
    """A generator for `model_path` on the back-end `engine` ("local" or "ray"), with `Generator`'s settings."""
    if engine == "ray":
        return RayGenerator(model_path, ray_address=ray_address, **settings)
    if engine not in GENERATION_ENGINES:
        raise ValueError(f"unknown generation engine {engine!r}; use one of {', '.join(GENERATION_ENGINES)}")
    return Generator(model_path, **settings)
