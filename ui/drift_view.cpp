#include "drift_view.h"

#include "form_util.h"
#include "plot_util.h"

#include <algorithm>

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace mabert::ui {

namespace {
constexpr double kLogFloor = 1e-9;  // exact zeros are drawn here on the log scale
}

DriftView::DriftView(QWidget* parent) : QWidget(parent) {
  auto* v = column_with_help(
      this,
      "Add k pad tokens to each probe sentence and measure how far its representation moves (1 − cos). "
      "Without masking, pads leak into the valid tokens through the SSM scan; with pre+post+state masking "
      "the curves are flat at 0.");
  auto* bar = new QHBoxLayout;
  side_ = new QComboBox;
  side_->addItems({"right padding", "left padding"});
  side_->setCurrentIndex(1);
  side_->setToolTip("A forward scan only carries pads into the valid tokens when the pads come first (left),\n"
                    "or through the reversed scan of B layers. Attention masks pad keys either way.");
  measure_ = new QComboBox;
  measure_->addItems({"final [CLS]", "valid-token mean"});
  log_ = new QCheckBox("log scale");
  log_->setChecked(true);
  compute_ = new QPushButton("Compute on loaded model");
  compute_->setObjectName("drift_compute");
  stop_ = new QPushButton("Stop");
  stop_->setEnabled(false);
  source_ = new QLabel("—");
  for (QWidget* w : std::initializer_list<QWidget*>{side_, measure_, log_, compute_, stop_}) bar->addWidget(w);
  bar->addStretch(1);
  bar->addWidget(source_);
  v->addLayout(bar);
  auto* split = new QSplitter(Qt::Vertical);
  plot_ = make_plot(this, "Padding drift", "pads added k", "cosine distance 1 − cos");
  legend_beside(plot_);
  split->addWidget(plot_);
  table_ = new QTableWidget;
  table_->setObjectName("drift_table");
  add_table_export(table_);
  split->addWidget(table_);
  split->setStretchFactor(0, 3);
  v->addWidget(split, 1);
  connect(compute_, &QPushButton::clicked, this, [this] { emit computeRequested(options()); });
  connect(stop_, &QPushButton::clicked, this, &DriftView::stopRequested);
  connect(measure_, &QComboBox::currentIndexChanged, this, [this] { redraw(); });
  connect(log_, &QCheckBox::toggled, this, [this] { redraw(); });
}

analysis::DriftOptions DriftView::options() const {
  analysis::DriftOptions o;
  o.left = side_->currentIndex() == 1;
  return o;
}

void DriftView::setBusy(bool busy) {
  compute_->setEnabled(!busy);
  stop_->setEnabled(busy);
  if (busy) source_->setText("computing…");
}

void DriftView::setCurves(const std::vector<analysis::DriftCurve>& curves, const QString& source) {
  curves_ = curves;
  source_->setText(source);
  setBusy(false);
  redraw();
  emit curvesChanged(source);
}

void DriftView::redraw() {
  const bool cls = measure_->currentIndex() == 0;
  plot_->clearGraphs();
  double ymax = kLogFloor;
  for (size_t i = 0; i < curves_.size(); ++i) {
    const auto& c = curves_[i];
    auto* g = plot_->addGraph();
    g->setName(QString::fromStdString(c.config));
    style_series(g, static_cast<int>(i), 7);  // pre and pre+post coincide: both stay visible
    const auto& y = cls ? c.cls : c.mean;
    for (size_t k = 0; k < std::min(c.pads.size(), y.size()); ++k) {
      const double v = log_->isChecked() ? std::max(y[k], kLogFloor) : y[k];
      g->addData(static_cast<double>(c.pads[k]), v);
      ymax = std::max(ymax, y[k]);
    }
  }
  if (log_->isChecked()) {
    plot_->yAxis->setScaleType(QCPAxis::stLogarithmic);
    plot_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    plot_->yAxis->setRange(kLogFloor / 2, std::max(ymax * 3, 1e-6));
    plot_->yAxis->setLabel("cosine distance 1 − cos (log; 0 drawn at 1e-9)");
  } else {
    plot_->yAxis->setScaleType(QCPAxis::stLinear);
    plot_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    plot_->yAxis->setRange(0, std::max(ymax * 1.1, 1e-6));
    plot_->yAxis->setLabel("cosine distance 1 − cos");
  }
  // A curve may have fewer points than another, or none (every probe longer than the model's
  // max_len, or a drift stopped part-way): the axis and the table follow the longest curve (the
  // curves share their pad counts, a stopped one ends early).
  const auto longest = std::max_element(curves_.begin(), curves_.end(),
                                        [](const auto& a, const auto& b) { return a.pads.size() < b.pads.size(); });
  const std::vector<int64_t> no_pads;
  const std::vector<int64_t>& pads = longest == curves_.end() ? no_pads : longest->pads;
  if (!pads.empty()) plot_->xAxis->setRange(-0.5, static_cast<double>(pads.back()) + 0.5);
  replot_lazy(plot_);

  QStringList header{"pads"};
  for (const auto& c : curves_) header << QString::fromStdString(c.config) + (cls ? " CLS" : " mean");
  QVector<QStringList> rows;
  for (size_t k = 0; k < pads.size(); ++k) {
    QStringList r{QString::number(pads[k])};
    for (const auto& c : curves_) {
      const auto& y = cls ? c.cls : c.mean;
      r << (k < y.size() ? QString::number(y[k], 'g', 4) : QString());
    }
    rows.push_back(r);
  }
  fill_table(table_, header, rows);
}

}  // namespace mabert::ui
