  window.Pushframe = Pushframe;
}(this));
