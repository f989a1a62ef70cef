"""MUSHRA listening tests: prepare stimuli from a sweep, serve the test page, analyse answers."""

from leanamp.listen.server import ListeningServer, serve_forever, serve_listening_test
from leanamp.listen.session import (
    AnswerStore,
    ListeningResults,
    analyse_answers,
    open_listening_test,
    prepare_listening_test,
    screen_participant,
    tanh_anchor,
    write_listening_results,
)

__all__ = [
    "AnswerStore",
    "ListeningResults",
    "ListeningServer",
    "analyse_answers",
    "open_listening_test",
    "prepare_listening_test",
    "screen_participant",
    "serve_forever",
    "serve_listening_test",
    "tanh_anchor",
    "write_listening_results",
]
