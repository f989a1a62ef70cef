// MUSHRA test page: one trial at a time, every rating saved to the server as it changes.
"use strict";

const STORAGE_KEY = "leanamp-mushra-participant";
let session = null;
let trialIndex = 0;
let touched = new Set();

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const value = await response.json();
  if (!response.ok) throw new Error(value.error || response.statusText);
  return value;
}

function show(id) {
  for (const section of ["welcome", "trial", "done"]) {
    document.getElementById(section).hidden = section !== id;
  }
}

function stopAll() {
  for (const audio of document.querySelectorAll("#players audio")) {
    audio.pause();
    audio.currentTime = 0;
  }
  for (const button of document.querySelectorAll("button.play")) button.classList.remove("playing");
}

function play(slot) {
  stopAll();
  const audio = document.getElementById(`audio-${slot}`);
  const button = document.querySelector(`button.play[data-slot="${slot}"]`);
  button.classList.add("playing");
  audio.onended = () => button.classList.remove("playing");
  audio.play();
}

async function save(complete) {
  const trial = session.trials[trialIndex];
  const ratings = {};
  for (const slot of touched) {
    ratings[slot] = Number(document.getElementById(`rating-${slot}`).value);
    trial.ratings[slot] = ratings[slot];
  }
  await api("POST", "/api/rate", { participant: session.participant, trial: trial.id, ratings, complete });
  if (complete) trial.complete = true;
  document.getElementById("saved").textContent = "saved";
}

function renderTrial() {
  stopAll();
  const trial = session.trials[trialIndex];
  touched = new Set(Object.keys(trial.ratings));
  document.getElementById("progress").textContent =
    `Trial ${trialIndex + 1} of ${session.trials.length}`;
  const players = document.getElementById("players");
  players.replaceChildren();
  const addAudio = (slot, url) => {
    const audio = document.createElement("audio");
    audio.id = `audio-${slot}`;
    audio.src = url;
    audio.preload = "auto";
    players.appendChild(audio);
  };
  addAudio("reference", trial.reference);
  const list = document.getElementById("conditions");
  list.replaceChildren();
  const scale = document.createElement("div");
  scale.className = "scale";
  for (const word of ["Bad", "Poor", "Fair", "Good", "Excellent"]) {
    const span = document.createElement("span");
    span.textContent = word;
    scale.appendChild(span);
  }
  list.appendChild(scale);
  trial.slots.forEach((url, index) => {
    const slot = String(index);
    addAudio(slot, url);
    const row = document.createElement("div");
    row.className = "condition" + (touched.has(slot) ? "" : " untouched");
    const button = document.createElement("button");
    button.className = "play";
    button.dataset.slot = slot;
    button.textContent = `Play ${String.fromCharCode(65 + index)}`;
    button.onclick = () => play(slot);
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = "100";
    slider.step = "1";
    slider.id = `rating-${slot}`;
    slider.setAttribute("aria-label", `rating of ${String.fromCharCode(65 + index)}`);
    slider.value = slot in trial.ratings ? String(trial.ratings[slot]) : "50";
    const output = document.createElement("output");
    output.textContent = slot in trial.ratings ? slider.value : "–";
    slider.oninput = () => {
      touched.add(slot);
      row.classList.remove("untouched");
      output.textContent = slider.value;
      updateNext();
    };
    slider.onchange = () => {
      touched.add(slot);
      document.getElementById("saved").textContent = "";
      save(false).catch(showError);
    };
    row.append(button, slider, output);
    list.appendChild(row);
  });
  updateNext();
  show("trial");
}

function updateNext() {
  const trial = session.trials[trialIndex];
  document.getElementById("next").disabled = touched.size < trial.slots.length;
}

function showError(error) {
  document.getElementById("saved").textContent = `not saved: ${error.message}`;
}

function resume() {
  trialIndex = session.trials.findIndex((t) => !t.complete);
  if (trialIndex < 0) {
    show("done");
    return;
  }
  renderTrial();
}

async function init() {
  document.getElementById("play-reference").onclick = () => play("reference");
  document.getElementById("stop").onclick = stopAll;
  document.getElementById("start").onclick = async () => {
    session = await api("POST", "/api/start", { name: document.getElementById("name").value });
    localStorage.setItem(STORAGE_KEY, session.participant);
    document.getElementById("title").textContent = session.title;
    resume();
  };
  document.getElementById("next").onclick = async () => {
    try {
      await save(true);
    } catch (error) {
      showError(error);
      return;
    }
    resume();
  };
  const known = localStorage.getItem(STORAGE_KEY);
  if (known) {
    try {
      session = await api("GET", `/api/session/${known}`);
      document.getElementById("title").textContent = session.title;
      resume();
      return;
    } catch (error) {
      localStorage.removeItem(STORAGE_KEY);  // answers folder reset: start afresh
    }
  }
  show("welcome");
}

init();
