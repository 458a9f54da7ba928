"""The reconciler's plan: which management calls, in which order, and what it waits for."""

from __future__ import annotations

from ops.declared import DeclaredState, parse
from ops.plan import Register, Scale, ServedModel, ServedVersion, SetDefault, Unregister, plan


def declared(default: str = "1.0", **versions: dict) -> DeclaredState:
    spec = versions or {"1.0": {"archive": "fromsoft.mar"}}
    return DeclaredState.model_validate({"models": {"fromsoft": {"default": default, "versions": spec}}})


def served(default: str = "1.0", **versions: ServedVersion) -> dict[str, ServedModel]:
    return {"fromsoft": ServedModel(default, versions or {"1.0": version()})}


def version(archive: str = "fromsoft.mar", workers: int = 1, ready: int = 1, **kw) -> ServedVersion:
    """A served version; its digest unknown unless given (no worker has described it yet)."""
    return ServedVersion(
        archive, kw.get("batch_size", 4), kw.get("max_batch_delay", 1), workers, ready, kw.get("digest")
    )


DIGESTS = {("fromsoft", "1.0"): "aaaaaaaaaaaa", ("fromsoft", "2.0"): "bbbbbbbbbbbb"}
V1 = {"archive": "fromsoft.mar"}
V2 = {"archive": "fromsoft-2.0.mar"}


def test_what_is_served_as_declared_needs_nothing():
    result = plan(declared(), DIGESTS, served())
    assert result.steps == []
    assert result.converged


def test_a_fresh_replica_registers_the_default_first():
    state = declared("2.0", **{"1.0": V1, "2.0": {**V2, "workers": 2, "batch_size": 8}})
    result = plan(state, DIGESTS, {})
    assert result.steps == [
        Register("fromsoft", "2.0", "fromsoft-2.0.mar", 2, 8, None),
        Register("fromsoft", "1.0", "fromsoft.mar", 1, None, None),
    ]
    assert not result.converged


def test_a_new_default_is_registered_first_and_set_only_once_ready():
    state = declared("2.0", **{"1.0": V1, "2.0": V2})
    first = plan(state, DIGESTS, served())
    assert first.steps == [Register("fromsoft", "2.0", "fromsoft-2.0.mar", 1, None, None)]
    loading = plan(state, DIGESTS, served(**{"1.0": version(), "2.0": version("fromsoft-2.0.mar", ready=0)}))
    assert loading.steps == []
    assert loading.waiting == [
        "fromsoft 2.0: 0 of 1 worker(s) READY",
        "fromsoft: 2.0 becomes the default once its workers are up",
    ]
    ready = plan(
        state, DIGESTS, served(**{"1.0": version(), "2.0": version("fromsoft-2.0.mar", digest=None)})
    )
    assert ready.steps == [SetDefault("fromsoft", "2.0")]


def test_the_order_is_register_set_default_scale_unregister():
    """One plan that does everything: the old default goes last, after the switch to the new one."""
    state = declared("2.0", **{"2.0": {**V2, "workers": 2}, "3.0": {"archive": "fromsoft-3.0.mar"}})
    now = served("1.0", **{"1.0": version(), "2.0": version("fromsoft-2.0.mar")})
    digests = {**DIGESTS, ("fromsoft", "3.0"): "cccccccccccc"}
    assert plan(state, digests, now).steps == [
        Register("fromsoft", "3.0", "fromsoft-3.0.mar", 1, None, None),
        SetDefault("fromsoft", "2.0"),
        Scale("fromsoft", "2.0", 2),
        Unregister("fromsoft", "1.0"),
    ]


def test_a_ready_new_default_is_set_before_workers_are_scaled_and_the_old_one_removed():
    state = declared("2.0", **{"2.0": {**V2, "workers": 2}})
    now = served("1.0", **{"1.0": version(), "2.0": version("fromsoft-2.0.mar", digest="bbbbbbbbbbbb")})
    assert plan(state, DIGESTS, now).steps == [
        SetDefault("fromsoft", "2.0"),
        Scale("fromsoft", "2.0", 2),
        Unregister("fromsoft", "1.0"),
    ]


def test_the_old_default_stays_while_the_new_one_is_not_ready():
    state = declared("2.0", **{"2.0": V2})
    now = served("1.0", **{"1.0": version(), "2.0": version("fromsoft-2.0.mar", ready=0)})
    result = plan(state, DIGESTS, now)
    assert result.steps == []  # 1.0 is not declared, but it is what answers until 2.0 can
    assert "fromsoft: 2.0 becomes the default once its workers are up" in result.waiting


def test_workers_are_scaled_to_the_declared_count():
    result = plan(declared(**{"1.0": {**V1, "workers": 3}}), DIGESTS, served())
    assert result.steps == [Scale("fromsoft", "1.0", 3)]


def test_a_changed_archive_of_a_version_that_is_not_the_default_is_registered_again():
    state = declared("1.0", **{"1.0": V1, "2.0": {**V2, "batch_size": 8}})
    now = served(**{"1.0": version(), "2.0": version("fromsoft-2.0.mar", digest="bbbbbbbbbbbb")})
    again = [Unregister("fromsoft", "2.0"), Register("fromsoft", "2.0", "fromsoft-2.0.mar", 1, 8, None)]
    assert plan(state, DIGESTS, now).steps == again
    retrained = {**DIGESTS, ("fromsoft", "2.0"): "dddddddddddd"}
    state = declared("1.0", **{"1.0": V1, "2.0": V2})
    again[1] = Register("fromsoft", "2.0", "fromsoft-2.0.mar", 1, None, None)
    assert plan(state, retrained, now).steps == again


def test_the_default_version_is_never_replaced_in_place():
    retrained = {**DIGESTS, ("fromsoft", "1.0"): "dddddddddddd"}
    result = plan(declared(), retrained, served(**{"1.0": version(digest="aaaaaaaaaaaa")}))
    assert result.steps == []
    assert result.waiting == [
        "fromsoft 1.0: its archive's content changed (aaaaaaaaaaaa -> dddddddddddd), but it is the default "
        "version and is not replaced in place: make another version the default first, or restart the replica"
    ]


def test_a_model_no_longer_declared_is_unregistered_default_last():
    now = {
        **served(),
        "stock": ServedModel("1.0", {"0.9": version("stock-0.9.mar"), "1.0": version("stock.mar")}),
    }
    assert plan(declared(), DIGESTS, now).steps == [Unregister("stock", "0.9"), Unregister("stock", "1.0")]


def test_an_empty_declaration_unregisters_everything():
    assert plan(parse(""), {}, served()).steps == [Unregister("fromsoft", "1.0")]


PINNED = {**V2, "digest": "bbbbbbbbbbbb"}
SWAPPED = {**DIGESTS, ("fromsoft", "2.0"): "eeeeeeeeeeee"}  # 2.0's archive, replaced since it was pinned
REFUSED = (
    "fromsoft 2.0: fromsoft-2.0.mar now has digest eeeeeeeeeeee, not the pinned bbbbbbbbbbbb: it is not "
    "registered (declare it again with `ops.models add --force` if it was replaced on purpose)"
)


def test_an_archive_that_is_no_longer_its_pinned_digest_is_never_registered_and_the_plan_says_why():
    """The reconciler plans from its last valid state while the file is invalid: the swapped archive it
    finds in the store is not the one that state pinned."""
    state = declared("1.0", **{"1.0": V1, "2.0": PINNED})
    result = plan(state, SWAPPED, served())
    assert result.steps == []
    assert result.waiting == [REFUSED]
    fresh = plan(state, SWAPPED, {})  # a replica that starts, or whose TorchServe restarted
    assert fresh.steps == [Register("fromsoft", "1.0", "fromsoft.mar", 1, None, None)]
    assert REFUSED in fresh.waiting
    assert plan(state, DIGESTS, served()).steps == [
        Register("fromsoft", "2.0", "fromsoft-2.0.mar", 1, None, None)
    ]  # the pinned content is registered as ever


def test_a_version_serving_its_pinned_content_is_not_registered_again_from_a_swapped_archive():
    state = declared("1.0", **{"1.0": V1, "2.0": PINNED})
    authentic = served(**{"1.0": version(), "2.0": version("fromsoft-2.0.mar", digest="bbbbbbbbbbbb")})
    result = plan(state, SWAPPED, authentic)
    assert result.steps == []  # it keeps serving what was pinned
    assert result.waiting == [REFUSED]


def test_a_version_serving_other_content_than_its_pin_is_unregistered_and_not_made_the_default():
    """Swapped between the reconciler's look and TorchServe's read: what the handler says it serves
    decides, and nothing takes its place until the store holds the pinned archive again."""
    state = declared("2.0", **{"1.0": V1, "2.0": PINNED})
    swapped = served(**{"1.0": version(), "2.0": version("fromsoft-2.0.mar", digest="eeeeeeeeeeee")})
    result = plan(state, SWAPPED, swapped)
    assert result.steps == [Unregister("fromsoft", "2.0")]
    assert REFUSED in result.waiting
    assert "fromsoft: 2.0 becomes the default once its workers are up" in result.waiting
    restored = plan(state, DIGESTS, swapped)  # the pinned archive is back: registered again, from it
    assert restored.steps == [
        Unregister("fromsoft", "2.0"),
        Register("fromsoft", "2.0", "fromsoft-2.0.mar", 1, None, None),
    ]


def test_a_swapped_default_is_not_registered_and_no_other_version_takes_its_place():
    """A fresh replica's first registration becomes TorchServe's default: with the declared default
    refused, registering the others would serve one that is not declared as the default."""
    state = declared("2.0", **{"1.0": V1, "2.0": PINNED})
    result = plan(state, SWAPPED, {})
    assert result.steps == []
    assert result.waiting == [REFUSED, "fromsoft: not registered yet"]
