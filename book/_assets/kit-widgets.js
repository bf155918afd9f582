// Loaded between require.js and the ipywidgets HTML manager (nb_ipywidgets_js in _config.yml).
(function () {
  // 1. The manager and the widget modules it defines (@jupyter-widgets/base, controls, ...) are
  // require.js modules that find their font files beside their own module URL; without paths,
  // require.js puts those URLs in the page's folder and the fonts are missing. This script
  // sits in _static beside html-manager/, so its own address names the folder.
  var here = document.currentScript.src.replace(/[^/]*$/, "") + "html-manager";
  window.require.config({paths: {"@jupyter-widgets/html-manager/dist": here,
                                 "@jupyter-widgets": here}});
  // 2. The widgets typeset their labels with MathJax 2's MathJax.Hub.Queue; the book has
  // MathJax 3 (deferred, so loaded before DOMContentLoaded, which runs before the manager
  // renders). Give its typesetting the old name.
  document.addEventListener("DOMContentLoaded", function () {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.startup) return;
    mj.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : undefined;
        return mj.startup.promise.then(function () {
          return mj.typesetPromise(element ? [element] : undefined);
        });
      },
    };
  });
})();
