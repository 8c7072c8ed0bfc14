// Experiments: run (or resume) an ablation grid on the training thread and watch its table
// (variants × tasks, mean ± std over seeds) fill cell by cell; the table exports to CSV and the
// Markdown of the paper layout is shown when the grid ends.
#pragma once

#include "worker.h"

#include <QWidget>

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QTableWidget;

namespace mabert::ui {

class ExperimentsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ExperimentsPanel(QWidget* parent = nullptr);
  QLineEdit* gridEdit() const { return grid_; }
  QLineEdit* outEdit() const { return out_; }
  QTableWidget* table() const { return table_; }
  void setBusy(bool busy);

 public slots:
  void onCell(const mabert::experiments::CellResult& c);
  void onFinished(const QString& status, const QString& markdown, const QString& message);
  void onMessage(const QString& m);

 signals:
  void runRequested(const QString& grid, const QString& out);
  void stopRequested();
  void gridFinished(const QString& status, const QString& markdown);

 private:
  void describe();
  void redraw();
  QLineEdit *grid_, *out_;
  QPushButton *run_, *stop_;
  QLabel* summary_;
  QTableWidget* table_;
  QPlainTextEdit* log_;
  std::vector<experiments::CellResult> cells_;
  std::vector<std::string> variants_, tasks_;
};

}  // namespace mabert::ui
