#include "experiments_panel.h"

#include "plot_util.h"
#include "project.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include <cmath>
#include <set>

namespace mabert::ui {

ExperimentsPanel::ExperimentsPanel(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  auto* help = new QLabel(
      "An ablation grid pretrains each distinct encoder once and fine-tunes it on every task for every seed; "
      "the table shows mean ± std over the seeds, in the paper's layout. A grid resumes: finished cells are "
      "read back, not rerun. The shipped grids reproduce Tables 1, 3 and B4 at tiny scale.");
  help->setWordWrap(true);
  v->addWidget(help);
  auto* form = new QFormLayout;
  grid_ = new QLineEdit(resources_dir() + "/grids/table3-tiny.json");
  grid_->setObjectName("grid_file");
  auto* browse = new QPushButton("…");
  auto* row = new QHBoxLayout;
  row->addWidget(grid_, 1);
  row->addWidget(browse);
  form->addRow("Grid file", row);
  out_ = new QLineEdit(studio_data_dir() + "/grids/table3-tiny");
  form->addRow("Output folder", out_);
  v->addLayout(form);
  auto* bar = new QHBoxLayout;
  run_ = new QPushButton("Run / resume grid");
  run_->setObjectName("grid_run");
  stop_ = new QPushButton("Stop");
  stop_->setEnabled(false);
  summary_ = new QLabel;
  bar->addWidget(run_);
  bar->addWidget(stop_);
  bar->addWidget(summary_, 1);
  v->addLayout(bar);
  table_ = new QTableWidget;
  table_->setObjectName("grid_table");
  add_table_export(table_);
  v->addWidget(table_, 2);
  log_ = new QPlainTextEdit;
  log_->setReadOnly(true);
  log_->setMaximumBlockCount(2000);
  v->addWidget(log_, 1);
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString p = QFileDialog::getOpenFileName(this, "Grid file", grid_->text(), "Grid (*.json)");
    if (!p.isEmpty()) {
      grid_->setText(p);
      out_->setText(studio_data_dir() + "/grids/" + QFileInfo(p).completeBaseName());
    }
  });
  connect(grid_, &QLineEdit::editingFinished, this, &ExperimentsPanel::describe);
  connect(run_, &QPushButton::clicked, this, [this] {
    describe();
    if (variants_.empty()) return;
    cells_.clear();
    redraw();
    setBusy(true);
    emit runRequested(grid_->text(), out_->text());
  });
  connect(stop_, &QPushButton::clicked, this, &ExperimentsPanel::stopRequested);
  describe();
}

void ExperimentsPanel::describe() {
  variants_.clear(), tasks_.clear();
  try {
    const auto g = experiments::Grid::load(grid_->text().toStdString());
    std::set<std::string> enc;
    for (const auto& v : g.variants) variants_.push_back(v.name), enc.insert(experiments::encoder_key(g, v));
    tasks_ = g.tasks;
    summary_->setText(QString("%1 variants, %2 encoders to pretrain, %3 tasks × %4 seeds = %5 fine-tuning cells")
                          .arg(g.variants.size())
                          .arg(enc.size())
                          .arg(g.tasks.size())
                          .arg(g.seeds.size())
                          .arg(g.variants.size() * g.tasks.size() * g.seeds.size()));
    summary_->setStyleSheet("");
  } catch (const std::exception& e) {
    summary_->setText(e.what());
    summary_->setStyleSheet("color: #b00020;");
  }
  redraw();
}

void ExperimentsPanel::setBusy(bool busy) {
  run_->setEnabled(!busy);
  stop_->setEnabled(busy);
}

void ExperimentsPanel::onCell(const experiments::CellResult& c) {
  cells_.push_back(c);
  log_->appendPlainText(QString("%1 · %2 · seed %3: %4%5")
                            .arg(QString::fromStdString(c.variant), QString::fromStdString(c.task))
                            .arg(c.seed)
                            .arg(c.score, 0, 'f', 4)
                            .arg(c.reused ? " (done earlier)" : ""));
  redraw();
}

void ExperimentsPanel::onMessage(const QString& m) {
  if (!run_->isEnabled()) log_->appendPlainText(m);
}

void ExperimentsPanel::onFinished(const QString& status, const QString& markdown, const QString& message) {
  setBusy(false);
  log_->appendPlainText("grid " + status + (message.isEmpty() ? "" : ": " + message));
  if (!markdown.isEmpty()) log_->appendPlainText("\n" + markdown);
  emit gridFinished(status, markdown);
}

void ExperimentsPanel::redraw() {
  QStringList header{"variant"};
  for (const auto& t : tasks_) header << QString::fromStdString(t);
  QVector<QStringList> rows;
  for (const auto& v : variants_) {
    QStringList r{QString::fromStdString(v)};
    for (const auto& t : tasks_) {
      std::vector<double> s;
      for (const auto& c : cells_)
        if (c.variant == v && c.task == t) s.push_back(c.score);
      if (s.empty()) {
        r << "";
        continue;
      }
      double mean = 0, var = 0;
      for (double x : s) mean += x;
      mean /= static_cast<double>(s.size());
      for (double x : s) var += (x - mean) * (x - mean);
      const double sd = s.size() > 1 ? std::sqrt(var / static_cast<double>(s.size() - 1)) : 0.0;
      r << QString("%1 ± %2 (%3)").arg(mean, 0, 'f', 3).arg(sd, 0, 'f', 3).arg(s.size());
    }
    rows.push_back(r);
  }
  fill_table(table_, header, rows);
}

}  // namespace mabert::ui
